"""The viewer in a real browser: Debian's chromium through Playwright, against the app
served by `streamlit run` on 127.0.0.1. Loads a run, moves the scrub control, checks what
is shown, saves a screenshot (SPECVIZ_SCREENSHOTS=dir keeps it; else pytest's tmp dir)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from viewer.testing import CHROMIUM, browser_page, serve, wait_for_replay
from viewer.synthetic import record_synthetic

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
        wait_for_replay(page)
        caption = page.get_by_text(re.compile(r"^event \d+ of \d+"))
        assert caption.inner_text().startswith("event 100 of ")
        assert page.get_by_text("Token tree · rounds").count() == 1

        # Move the event slider with the keyboard: five steps back.
        handle = page.get_by_test_id("stSlider").filter(has_text="Event").get_by_role("slider")
        handle.focus()
        for _ in range(5):
            handle.press("ArrowLeft")
        page.wait_for_function(
            "() => [...document.querySelectorAll('p')].some(p => p.innerText.startsWith('event 95 of'))",
            timeout=30_000,
        )
        wait_for_replay(page)
        assert "seq=95" in page.url  # the deep link follows the scrub position
        # Step a whole round forward with the button; the round metric changes.
        page.get_by_role("button", name="Round").nth(1).click()
        page.wait_for_function(
            "() => ![...document.querySelectorAll('p')].some(p => p.innerText.startsWith('event 95 of'))",
            timeout=30_000,
        )
        wait_for_replay(page)
        text = page.locator(".specviz-text").inner_text()
        assert len(text) > 20
        page.screenshot(path=str(shots / "replay.png"), full_page=True)
    assert (shots / "replay.png").stat().st_size > 10_000
