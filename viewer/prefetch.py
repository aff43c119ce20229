"""A run read as soon as a request names it, and its payload fetched by the player itself.

`specviz view` serves the viewer as an ASGI app (viewer/server.py, Streamlit's
``st.App``) with two additions, both for the open of a run on Replay:

- ``PrefetchOnRequest``: the moment the browser asks for ``/replay?run=...`` the run
  starts being read, folded and encoded, in a worker thread. Streamlit's page script
  only starts ~0.4 s later, once the browser has loaded Streamlit's frontend and opened
  its websocket; a 2,000-round run takes ~0.3 s of CPU to read and encode.
- ``GET /specviz/payload?run=...`` (``payload_endpoint``): that run's player payload,
  gzip'd once. The player fetches it while Plotly loads, instead of receiving it
  through Streamlit's websocket, where 2.2 MB of JSON travelled as a 3 MB escaped string
  that Streamlit's frontend decoded and re-posted to the player's frame (~0.4 s).

Only runs of the directory the viewer was launched on, already published (a run still
recording is followed through the page: viewer/live_follow.py). Reading never writes
anything: the results live in the same process caches the pages use (data.load_index,
the index's memo). Under plain ``streamlit run viewer/app.py`` (AppTest) nothing here is
served and the page sends the payload itself.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import urllib.parse
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from viewer import data, session

PAYLOAD_ROUTE = "/specviz/payload"
PAGE_PATH = "/replay"  # the page whose link names a run (pages.PAGES)
GZIP_LEVEL = 1  # ~7x smaller than the JSON in ~15 ms; higher levels cost more than they save on loopback


class Prefetcher:
    """Reads in flight, one per source, on one worker thread (a second read of the same
    run waits for the first; finished results are in data.load_index's cache)."""

    def __init__(self) -> None:
        self.serving = False  # set by viewer/server.py: this process answers PAYLOAD_ROUTE
        # Reentrant: a job already done when its callback is added runs _forget at once, in
        # submit, under this lock (a plain Lock deadlocked there, on a run read before).
        self._lock = threading.RLock()
        self._jobs: dict[data.Source, Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="specviz-prefetch")

    def submit(self, source: data.Source) -> Future:
        """The run's prepared payload (``prepared``), as a future."""
        with self._lock:
            job = self._jobs.get(source)
            if job is None:
                job = self._jobs[source] = self._pool.submit(prepared, source)
                job.add_done_callback(lambda _: self._forget(source))
            return job

    def _forget(self, source: data.Source) -> None:
        with self._lock:
            self._jobs.pop(source, None)


PREFETCHER = Prefetcher()  # one per server process, like the caches it fills


def is_live(source: data.Source) -> bool:
    """A run with a live log (recording, or just published): the page follows it instead."""
    from specviz.store.layout import LIVE_DIR  # specviz.store imports pyarrow: not at server start

    return any(Path(f).parent.name == LIVE_DIR for f, *_ in source.version())


def fetchable(source: data.Source) -> bool:
    """Whether the player can fetch this run from PAYLOAD_ROUTE (see the module's doc)."""
    return PREFETCHER.serving and source.path == session.launch_args().traces and not is_live(source)


def prepared(source: data.Source) -> dict | None:
    """The run read and folded (data.load_index), its payload encoded and gzip'd: the
    index's memo (replay_controls.encoded) with "gz" added; None for a live run. Raises
    what load_index raises."""
    from viewer.replay_controls import encoded

    if is_live(source):
        return None
    memo = encoded(data.load_index(source))
    if "gz" not in memo:
        memo["gz"] = gzip.compress(memo["text"].encode(), compresslevel=GZIP_LEVEL, mtime=0)
    return memo


def fetch_url(run_id: str) -> str:
    """PAYLOAD_ROUTE relative to the player's frame (/component/specviz_player/index.html),
    so a server.baseUrlPath prefix is kept."""
    return "../.." + PAYLOAD_ROUTE + "?" + urllib.parse.urlencode({"run": run_id})


def _launch_source(query: str) -> data.Source | None:
    run = urllib.parse.parse_qs(query).get("run")
    if not run or not run[0]:
        return None
    return data.Source(session.launch_args().traces, run[0])


class PrefetchOnRequest:
    """ASGI middleware: a request for the Replay page with ?run= starts reading that run."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET" and scope["path"].rstrip("/").endswith(PAGE_PATH):
            source = _launch_source(scope.get("query_string", b"").decode("latin-1"))
            if source is not None:
                PREFETCHER.submit(source)  # errors surface where the page or player asks for it
        await self.app(scope, receive, send)


async def payload_endpoint(request):
    """The run's payload as gzip'd JSON, with its version in X-Specviz-Version."""
    from starlette.responses import PlainTextResponse, Response

    source = _launch_source(request.url.query)
    if source is None:
        return PlainTextResponse("no run", status_code=400)
    try:
        memo = await asyncio.wrap_future(PREFETCHER.submit(source))
    except data.trace_error_types() as exc:
        return PlainTextResponse(str(exc), status_code=404)
    if memo is None:
        return PlainTextResponse("a live run: the page sends it", status_code=409)
    return Response(memo["gz"], media_type="application/json",
                    headers={"Content-Encoding": "gzip", "Cache-Control": "no-store", "X-Specviz-Version": memo["version"]})
