"""The viewer in a real browser: Debian's chromium through Playwright, against the app
served by `streamlit run` on 127.0.0.1. Loads a run, moves the scrub control, checks what
is shown, saves a screenshot (SPECVIZ_SCREENSHOTS=dir keeps it; else pytest's tmp dir)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from specviz.replay import build_index
from specviz.store import read_events
from viewer_server import CHROMIUM, browser_page, serve, wait_for_replay
from synthetic_runs import record_synthetic

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(300),
]


def shows_event(page, n: int) -> None:
    page.wait_for_function(
        "n => [...document.querySelectorAll('p')].some(p => p.innerText.startsWith(`event ${n} of`))",
        arg=n, timeout=30_000,
    )


def test_replay_in_chromium(tmp_path):
    traces = tmp_path / "traces"
    run_id = record_synthetic(traces, rounds=40, k=4, seed=7, errors_every=9)
    shots = Path(os.environ.get("SPECVIZ_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with serve(traces) as url, browser_page() as page:
        page.goto(f"{url}/replay?run={run_id[:8]}&seq=100")
        wait_for_replay(page)
        caption = page.get_by_text(re.compile(r"^event \d+ of \d+"))
        assert caption.inner_text().startswith("event 100 of ")
        assert page.get_by_text("Token tree · rounds").count() == 1

        # Move the event slider with the keyboard: five steps back, one rerun each.
        handle = page.get_by_test_id("stSlider").filter(has_text="Event").get_by_role("slider")
        for expected in range(99, 94, -1):
            handle.focus()
            handle.press("ArrowLeft")
            shows_event(page, expected)
        wait_for_replay(page)
        # The deep link follows the scrub position. (location, not page.url: Playwright's
        # record of the URL can lag the app's history.replaceState.)
        assert "seq=95" in page.evaluate("location.search")
        # "Next round": to the end of event 95's round, or of the next when 95 ends one.
        index = build_index(read_events(traces, run_id))
        rnd = index.event_round[95]
        end = index.round_end(rnd + 1 if index.round_end(rnd) == 95 else rnd)
        assert end > 95
        # (.first: Streamlit draws a hidden twin of a content-width button to measure it)
        page.locator(".st-key-btn_next_round button").first.click()
        shows_event(page, end)
        wait_for_replay(page)
        assert f"seq={end}" in page.evaluate("location.search")
        text = page.locator(".specviz-text").inner_text()
        assert len(text) > 20
        page.screenshot(path=str(shots / "replay.png"), full_page=True)
    assert (shots / "replay.png").stat().st_size > 10_000
