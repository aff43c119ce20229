"""Live follow in Debian's chromium while `specviz record` runs the bundled model in a
subprocess: a fresh tab opened on the recording run, and a tab that already had the
viewer open on another run and switches with Replay's run picker, both follow the new
events and both land on the run's final event when it finishes."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from specviz.recording import open_run
from specviz.replay import build_index
from specviz.store import list_runs, read_events
from synthetic_runs import record_synthetic, synthetic_events
from viewer.player.payload import encode_json, payload
from viewer_server import CHROMIUM, CHROMIUM_ARGS, browser_page, player_with_run, serve, wait_for_replay

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(600),
]

SAMPLE = "() => ({live: window.specviz.run.live, follow: window.specviz.follow, pos: window.specviz.pos, last: window.specviz.run.last})"
AT_FINAL = ("() => !window.specviz.run.live && window.specviz.pos === window.specviz.run.last"
            " && window.specviz.run.types[window.specviz.pos] === 'run_finished'")


def _wait_for_live_run(traces: Path, proc: subprocess.Popen, timeout: float = 240.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        live = [r.run_id for r in list_runs(traces) if r.live] if traces.exists() else []
        if live:
            return live[0]
        if proc.poll() is not None:
            raise AssertionError(f"specviz record exited early: {proc.stdout.read()}")
        time.sleep(0.3)
    raise AssertionError("no live run appeared")


def _pick_run(page, run_id: str) -> None:
    """Choose a run in Replay's own picker (in-app, no page load)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the picker re-lists runs every 2 s
        page.get_by_test_id("stSelectbox").filter(has_text="Run").click()
        option = page.get_by_role("option", name=run_id[:8])
        if option.count():
            option.click()
            return
        page.keyboard.press("Escape")
        page.wait_for_timeout(1000)
    raise AssertionError(f"{run_id} never appeared in Replay's run picker")


def _what_it_shows(page) -> str:
    """The page's own text and each player's state, for a failure message."""
    players = []
    for handle in page.query_selector_all("iframe"):
        frame = handle.content_frame()
        try:
            players.append(frame.evaluate("() => window.specviz && [window.specviz.version, window.specviz.pos, "
                                          "window.specviz.follow, window.specviz.received]"))
        except (PlaywrightError, AttributeError):
            players.append("(gone)")
    try:
        text = page.locator("body").inner_text(timeout=5_000)[:600]
    except PlaywrightError as e:
        text = f"(unreadable: {e})"
    return f"page text {text!r}; url {page.url}; players {players}"


def _final_player(page, run_id: str, timeout: float = 90.0):
    """The player frame once it shows the run's final event. The page rebuilds its player
    when the run's data changes (and once it is final), so a held frame may detach: look
    the current one up again until it answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = player_with_run(page, run_id, timeout_ms=60_000)
            if frame.evaluate(AT_FINAL):
                return frame
        except (PlaywrightError, LookupError):  # detached between the lookup and the question
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the player never showed {run_id}'s final event: {_what_it_shows(page)}")
        time.sleep(0.5)


def test_live_follow_from_a_fresh_tab_and_a_tab_that_had_the_viewer(tmp_path):
    traces = tmp_path / "traces"
    old = record_synthetic(traces, rounds=20, k=4, seed=2)
    with serve(traces) as url, browser_page() as tab_before:
        # The fresh tab in a browser of its own: a second tab of one headless browser is a
        # background tab, whose timers and frames chromium throttles.
        other = tab_before.context.browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        fresh = other.new_page(viewport={"width": 1400, "height": 1800})
        tab_before.goto(f"{url}/replay?run={old}&seq=5")
        wait_for_replay(tab_before)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from recorder.cli import main; main()", "--traces", str(traces), "record",
             "Write a long story about a lighthouse keeper and the sea, with many details.", "--max-tokens", "240", "--flush", "event", "--seed", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            live = _wait_for_live_run(traces, proc)
            _pick_run(tab_before, live)
            fresh.goto(f"{url}/replay?run={live}")
            try:
                frames = [player_with_run(page, live, timeout_ms=120_000) for page in (tab_before, fresh)]
            except Exception:
                for name, page in (("fresh", fresh), ("before", tab_before)):
                    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
                raise
            # While it records: following is on by default and the position is the newest event.
            samples: list[list] = [[], []]
            pages = (tab_before, fresh)
            while proc.poll() is None:
                for i, seen in enumerate(samples):
                    try:
                        seen.append(frames[i].evaluate(SAMPLE))
                    except PlaywrightError:  # the page rebuilt its player: sample the new one
                        try:
                            frames[i] = player_with_run(pages[i], live, timeout_ms=60_000)
                        except (PlaywrightError, LookupError):
                            pass
                time.sleep(0.5)
            for seen in samples:
                live_seen = [s for s in seen if s["live"]]
                assert live_seen, f"the run finished before the tabs saw it live ({len(seen)} samples)"
                assert all(s["follow"] for s in live_seen), live_seen
                assert all(s["pos"] == s["last"] for s in live_seen), live_seen
                assert len({s["last"] for s in live_seen}) >= 2, live_seen  # new events arrived and were followed
            out, _ = proc.communicate(timeout=400)
            assert proc.returncode == 0, out
            for page in (tab_before, fresh):  # the run finished: both land on its final event
                frame = _final_player(page, live)
                assert "run_finished" in frame.locator("#caption").inner_text()
        finally:
            other.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_followed_run_ends_on_its_final_event_even_in_a_remounted_player(tmp_path):
    """Streamlit may remount the player's iframe on the rerun that ends a live run (the
    defect this guards against: the remounted player then opened at the position last
    posted while the run was live, not at its final event). Here the remount is forced by
    reloading the iframe once the run has finished; the player and the URL must both
    name the final event."""
    traces = tmp_path / "traces"
    events = synthetic_events(rounds=50, k=4, seed=4)
    rec = open_run(traces, events[0], flush="event")
    for ev in events[1:30]:
        rec.log(ev)
    rec.flush()
    with serve(traces) as url, browser_page() as page:
        page.goto(f"{url}/replay?run={rec.run_id}")
        frame = player_with_run(page, rec.run_id)
        assert frame.evaluate(SAMPLE)["follow"]
        for ev in events[30:200]:  # events arrive while the page follows (~4 s)
            rec.log(ev)
            rec.flush()
            time.sleep(0.02)
        # The player caught up by deltas (after one whole payload) and holds exactly what a
        # fresh read of the run gives.
        want = json.loads(encode_json(payload(build_index(read_events(traces, rec.run_id)))))
        try:
            frame.wait_for_function("n => window.specviz.run.nEvents === n", arg=200, timeout=60_000)
        except PlaywrightError:
            raise AssertionError(frame.evaluate("() => [window.specviz.version, window.specviz.received]")) from None
        assert json.loads(frame.evaluate("() => JSON.stringify(window.specviz.run.d)")) == want
        # One whole payload, then deltas only (a delta from a version whose message the player
        # missed is asked for again, and answered with a delta too), each a fraction of it.
        # Under load a second delta may already be on its way when the player asks, and is
        # asked about once more; asks that go on (a loop) would show as a run of them.
        received = frame.evaluate("() => window.specviz.received")
        kinds = [kind for kind, _ in received]
        assert kinds[0] == "whole" and kinds.count("whole") == 1 and kinds.count("delta") >= 3, received
        assert kinds[-1] == "delta" and "ask ask ask" not in " ".join(kinds), received
        # (The median: under load one tick can carry a second of events, a third of this short run.)
        assert statistics.median(size for kind, size in received if kind == "delta") < len(json.dumps(want)) / 3, received
        for ev in events[200:-1]:  # the rest (~4 s)
            rec.log(ev)
            rec.flush()
            time.sleep(0.02)
        rec.finish(events[-1])
        final = len(events) - 1
        frame = _final_player(page, rec.run_id)
        page.wait_for_function("s => location.search.includes(s)", arg=f"seq={final}", timeout=30_000)
        frame.evaluate("() => { window.beforeRemount = true; setTimeout(() => location.reload(), 0); }")
        deadline = time.monotonic() + 60
        while True:  # until the reloaded player holds the run (the old context goes away mid-question)
            try:
                if frame.evaluate("() => window.beforeRemount === undefined && !!(window.specviz && window.specviz.run)"):
                    break
            except PlaywrightError:
                pass
            assert time.monotonic() < deadline, "the reloaded player never received the run"
            time.sleep(0.2)
        assert frame.evaluate(SAMPLE) == {"live": False, "follow": False, "pos": final, "last": final}
