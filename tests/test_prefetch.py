"""viewer/prefetch.py: a run read as soon as a request names it, and its payload served
to the player over HTTP by the server `specviz view` starts (viewer/server.py, a real
`streamlit run` on 127.0.0.1), on runs written through the recording API."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from concurrent.futures import Future
import urllib.error
import urllib.request

import pytest

from specviz.recording import open_run
from specviz.replay import build_index
from specviz.store import read_events
from synthetic_runs import record_synthetic, synthetic_events
from viewer import prefetch
from viewer.data import Source
from viewer.player.payload import payload
from viewer_server import serve

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    run_id = record_synthetic(d, rounds=60, k=4, seed=3, errors_every=17)
    events = synthetic_events(rounds=20, k=4, seed=4, errors_every=0)
    live = open_run(d, events[0], flush="event")  # recording: a log in _live, never finished here
    for ev in events[1:40]:
        live.log(ev)
    live.flush()
    yield {"dir": d, "run": run_id, "live": live.run_id}


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_payload_route_serves_the_runs_payload_gzipped(traces):
    index = build_index(read_events(traces["dir"], traces["run"]))
    with serve(traces["dir"]) as url:
        status, headers, body = _get(f"{url}{prefetch.PAYLOAD_ROUTE}?run={traces['run'][:6]}")
        assert status == 200 and headers["Content-Encoding"] == "gzip", (status, headers)
        assert headers["X-Specviz-Version"] == f"{traces['run']}:{index.n_events}:{index.finished_at}"
        assert json.loads(gzip.decompress(body)) == json.loads(json.dumps(payload(index)))
        # A run that is still recording is followed by the page (live_follow), not fetched.
        status, _, body = _get(f"{url}{prefetch.PAYLOAD_ROUTE}?run={traces['live']}")
        assert status == 409, body
        status, _, body = _get(f"{url}{prefetch.PAYLOAD_ROUTE}?run=ffffffffffff")
        assert status == 404 and b"ffffffffffff" in body, body
        status, _, _ = _get(f"{url}{prefetch.PAYLOAD_ROUTE}")
        assert status == 400


def test_a_page_request_starts_reading_its_run(traces, monkeypatch):
    """The middleware itself, in this process: a GET of /replay?run=... submits the read
    before passing the request on; the next call for the same run gets the same read."""
    monkeypatch.setattr("sys.argv", ["app.py", "--traces", str(traces["dir"])])
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["path"])

    middleware = prefetch.PrefetchOnRequest(app)
    scope = {"type": "http", "method": "GET", "path": "/replay", "query_string": f"run={traces['run']}".encode()}
    asyncio.run(middleware(scope, None, None))
    assert seen == ["/replay"]
    memo = prefetch.PREFETCHER.submit(Source(str(traces["dir"]), traces["run"])).result(timeout=60)
    assert memo["n_events"] == build_index(read_events(traces["dir"], traces["run"])).n_events
    assert json.loads(gzip.decompress(memo["gz"]))["run"]["run_id"] == traces["run"]
    # Other pages and requests without a run start nothing.
    deadline = time.monotonic() + 10
    while prefetch.PREFETCHER._jobs and time.monotonic() < deadline:  # the read above is forgotten once done
        time.sleep(0.05)
    for path, query in (("/runs", f"run={traces['run']}"), ("/replay", ""), ("/_stcore/health", "")):
        asyncio.run(middleware({"type": "http", "method": "GET", "path": path, "query_string": query.encode()}, None, None))
    assert not prefetch.PREFETCHER._jobs


def test_player_files_are_revalidated_not_sent_again(traces):
    """viewer/player_files.py: the player's files come gzip'd with an ETag; a browser that
    has a file gets a 304 with no body (Streamlit alone sent every file again on every
    open, Plotly's 1.2 MB bundle re-compressed each time)."""
    from viewer.player import COMPONENT, FRONTEND, component_dir

    with serve(traces["dir"]) as url:
        base = f"{url}/component/viewer.player.{COMPONENT}"
        for name in ("plotly.min.js", "player.js", "index.html"):
            req = urllib.request.Request(f"{base}/{name}", headers={"Accept-Encoding": "gzip"})
            status, headers, body = _get(req)
            assert status == 200 and headers["Content-Encoding"] == "gzip" and headers["Cache-Control"] == "no-cache"
            assert gzip.decompress(body) == (component_dir() / name).read_bytes()
            etag = headers["ETag"]
            req = urllib.request.Request(f"{base}/{name}", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
            status, headers, body = _get(req)
            assert status == 304 and body == b"" and headers["ETag"] == etag, (name, status)
        assert (FRONTEND / "player.js").read_bytes() == (component_dir() / "player.js").read_bytes()
        # Anything else still goes to Streamlit (here: a file the player does not have).
        status, _, _ = _get(urllib.request.Request(f"{base}/nothing.js", headers={"Accept-Encoding": "gzip"}))
        assert status == 404


def test_a_job_done_before_its_callback_is_added_does_not_deadlock():
    """A run read before makes a job that can finish before submit adds the callback that
    forgets it; the callback then runs inside submit, under the registry's lock (a plain
    Lock deadlocked there). Which thread wins that race cannot be chosen from outside, so
    the executor here hands back a future that is already done (a stand-in for the pool:
    the only way to make the race certain)."""
    registry = prefetch.Prefetcher()
    done = Future()
    done.set_result("memo")
    registry._pool.submit = lambda fn, *args: done
    got = []
    worker = threading.Thread(target=lambda: got.append(registry.submit(Source("x", "y")).result()), daemon=True)
    worker.start()
    worker.join(10)
    assert got == ["memo"], "submit deadlocked on a job that was already done"
    assert not registry._jobs  # and it was forgotten, so a changed run is read again


def _hostile_run_values() -> list[str]:
    """Hundreds of `run=` values a hostile or broken client could send."""
    import random

    rng = random.Random(17)
    fixed = ["*", "**", "?", "[", "[a-f]*", "../", "../../etc/passwd", "/etc/passwd", "%00", "\x00", "a\x00b", " ", "\n",
             "run-", "date=*", "_live", "..", ".", "'; DROP TABLE runs; --", "0" * 10_000, "é", "\U0001f600", "\\", "~",
             "{a,b}", "$(id)", "`id`", "%2e%2e%2f", "a" * 300, "\x1b[31m", "\r\n", "null", "[]", "{}"]
    alphabet = "0123456789abcdef*?[]/.\\\x00%-_ zZ\u00e9\U0001f600\n"
    generated = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    return fixed + generated


def test_hostile_run_values_get_a_clear_answer_and_the_server_stays_up(traces):
    """Generated run= values (glob characters, paths out of the directory, NULs, control
    characters, huge strings): every answer is 400, 404 or 409 with plain text, never a
    run's payload, never a server error; a page request with the same values is served;
    the real run is still served afterwards."""
    import urllib.parse

    with serve(traces["dir"]) as url:
        for value in _hostile_run_values():
            query = urllib.parse.urlencode({"run": value})
            status, headers, body = _get(f"{url}{prefetch.PAYLOAD_ROUTE}?{query}")
            prefix = value.strip().lower()
            names_the_run = bool(prefix) and traces["run"].startswith(prefix) and not traces["live"].startswith(prefix)
            if names_the_run:  # a generated value can be a unique prefix of the real run ("e")
                assert status == 200 and headers["Content-Encoding"] == "gzip", (value, status)
                continue
            assert status in (400, 404, 409), (value, status, body[:200])
            assert headers.get("Content-Encoding") != "gzip", value
            assert _get(f"{url}/replay?{query}")[0] == 200, value
        status, headers, _ = _get(f"{url}{prefetch.PAYLOAD_ROUTE}?run={traces['run']}")
        assert status == 200 and headers["Content-Encoding"] == "gzip"
