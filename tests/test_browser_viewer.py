"""The viewer in a real browser: Debian's chromium through Playwright, against the app
served by `streamlit run` on 127.0.0.1. Loads a run, moves the scrub control, checks what
is shown, saves a screenshot (SPECVIZ_SCREENSHOTS=dir keeps it; else pytest's tmp dir)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from specviz.replay import build_index
from specviz.store import read_events
from viewer_server import CHROMIUM, browser_page, serve, wait_for_replay
from synthetic_runs import record_synthetic

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(300),
]


def test_replay_in_chromium(tmp_path):
    traces = tmp_path / "traces"
    run_id = record_synthetic(traces, rounds=40, k=4, seed=7, errors_every=9)
    shots = Path(os.environ.get("SPECVIZ_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with serve(traces) as url, browser_page() as page:
        page.goto(f"{url}/replay?run={run_id[:8]}&seq=100")
        player = wait_for_replay(page)
        assert player.locator("#caption").inner_text().startswith("event 100 of ")
        assert player.get_by_text("Token tree · rounds").count() == 1
        # Five steps back with the keyboard, each drawn in the browser without the server.
        player.locator("#text").focus()
        for expected in range(99, 94, -1):
            page.keyboard.press("ArrowLeft")
            expect(player.locator("#caption")).to_contain_text(f"event {expected} of ")  # drawn on the next frame
        # The deep link follows the scrub position (posted back at most once a second).
        page.wait_for_function("() => location.search.includes('seq=95')", timeout=45_000)
        # "Next round": to the end of event 95's round, or of the next when 95 ends one.
        index = build_index(read_events(traces, run_id))
        rnd = index.event_round[95]
        end = index.round_end(rnd + 1 if index.round_end(rnd) == 95 else rnd)
        assert end > 95
        player.locator("#btn-next-round").click()
        expect(player.locator("#caption")).to_contain_text(f"event {end} of ")
        page.wait_for_function("s => location.search.includes(s)", arg=f"seq={end}", timeout=45_000)
        assert len(player.locator("#commits").inner_text()) > 20
        page.screenshot(path=str(shots / "replay.png"), full_page=True)
    assert (shots / "replay.png").stat().st_size > 10_000
