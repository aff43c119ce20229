"""Every page in a real browser (Debian's chromium through Playwright) at a narrow (1024 px)
and a wide (1440 px) window: no exception, no sideways scrolling, the page's key elements
on screen; then what only a browser shows: a row click on Runs opens Replay, and a run
recorded while Runs and Compare are open appears in their pickers without a reload."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from specviz.replay import build_index
from specviz.store import read_events
from synthetic_runs import record_synthetic
from viewer import comparison
from viewer.pages import PAGES
from viewer_server import CHROMIUM, browser_page, serve

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(600),
]
WIDTHS = (1024, 1440)
KEY_COLUMNS = ("acceptance", "speedup", "tokens")
# The placeholder's drawn width in the input's own font against the room inside the input.
PLACEHOLDER_FITS = """e => {
    const s = getComputedStyle(e), ctx = document.createElement('canvas').getContext('2d');
    ctx.font = s.font;
    return ctx.measureText(e.placeholder).width <= e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) + 1;
}"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    traces = tmp_path_factory.mktemp("traces")
    a = record_synthetic(traces, rounds=20, k=4, seed=1, prompt="alpha prompt")
    b = record_synthetic(traces, rounds=20, k=4, seed=2, prompt="alpha prompt")
    with serve(traces) as url:
        yield {"url": url, "traces": traces, "a": a, "b": b}


def settle(page, timeout_ms: float = 60_000) -> None:
    """Until the header is drawn and Streamlit is idle (its status widget gone)."""
    page.wait_for_selector("[data-testid=stHeading]", timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def fits(page, width: int) -> None:
    assert page.get_by_test_id("stException").count() == 0
    # Nothing pushes the page wider than the window (a sideways scrollbar).
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def on_screen(locator, width: int) -> None:
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0, locator
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (locator, box)


def grid_headers(page, n: int = 0) -> list[str]:
    # The data grid draws on a canvas; its accessible twin lists the columns on screen.
    return page.eval_on_selector_all(f"[data-testid=stDataFrame] >> nth={n} >> th", "ths => ths.map(t => t.innerText)")


def check_runs(page, width: int, served) -> None:
    page.wait_for_selector("[data-testid=stDataFrame] th", state="attached", timeout=60_000)
    assert set(KEY_COLUMNS) <= set(grid_headers(page))
    # Filter placeholders whole, not cut to "a…".
    boxes = page.locator("[data-testid=stMultiSelect] input[placeholder]").all()
    assert len(boxes) >= 6
    for box in boxes:
        assert box.evaluate(PLACEHOLDER_FITS), box.get_attribute("placeholder")
        on_screen(box, width)
    on_screen(page.get_by_test_id("stDataFrame").first, width)


def check_replay(page, width: int, served) -> None:
    # Its charts are drawn in the page or inside a component (an iframe): either will do.
    deadline = time.monotonic() + 60
    while not (frames := [f for f in page.frames if f.locator(".js-plotly-plot .main-svg").count()]):
        assert time.monotonic() < deadline, "no chart drawn on Replay"
        page.wait_for_timeout(300)
    frame = frames[0]
    if frame is page.main_frame:
        on_screen(page.locator(".js-plotly-plot").first, width)
    else:
        box = frame.frame_element().bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, box


def check_compare(page, width: int, served) -> None:
    page.wait_for_selector(".specviz-diff", timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=60_000)
    on_screen(page.locator(".specviz-diff"), width)
    for link in page.get_by_text(re.compile(r"^Replay [AB] \w{8} at the divergence")).all():
        on_screen(link, width)
    table = page.get_by_test_id("stDataFrame").first.locator("table").text_content()
    assert all(row in table for row in ("status", "tokens/s", "acceptance", "wall time"))


def check_sql(page, width: int, served) -> None:
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    for element in (page.get_by_test_id("stTextArea"), page.get_by_role("button", name="Run"),
                    page.get_by_text(re.compile(r"^runs · \d+ columns$")), page.get_by_test_id("stDataFrame").first):
        on_screen(element, width)


def check_analysis(page, width: int, served) -> None:
    # the six panels are one chart; the audit chart comes after it for a sampled run like these
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].filter("
                           "p => p.querySelector('.main-svg')).length >= 2", timeout=120_000)
    for chart in page.locator(".js-plotly-plot").all()[:2]:
        on_screen(chart, width)
    on_screen(page.get_by_test_id("stTable").first, width)


CHECKS = {"runs": check_runs, "replay": check_replay, "compare": check_compare, "sql": check_sql,
          "analysis": check_analysis}


def address(served, url_path: str) -> str:
    query = {"replay": f"?run={served['a']}", "compare": f"?runs={served['a']},{served['b']}",
             "analysis": f"?runs={served['a']}"}.get(url_path, "")
    return f"{served['url']}/{'' if url_path == 'runs' else url_path}{query}"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_at_narrow_and_wide_widths(served, width, tmp_path):
    with browser_page(width=width, height=1000) as page:
        # Nothing leaves the machine (README: "nothing is sent anywhere"; offline, a request
        # elsewhere only fails): every request goes to the viewer, or is inline.
        away = []
        page.on("request", lambda r: away.append(r.url) if not r.url.startswith(
            (served["url"], "data:", "blob:", "about:")) else None)
        for spec in PAGES:
            page.goto(address(served, spec.url_path))
            settle(page)
            assert page.get_by_test_id("stHeading").first.inner_text() == spec.title
            # A page without its own check still gets the header, exception and width checks.
            CHECKS.get(spec.url_path, lambda *_: None)(page, width, served)
            fits(page, width)
            page.screenshot(path=str(tmp_path / f"{spec.url_path}-{width}.png"), full_page=True)
        assert not away, sorted(set(away))


def test_compare_link_opens_replay_at_the_divergence(served):
    a = build_index(read_events(served["traces"], served["a"]))
    b = build_index(read_events(served["traces"], served["b"]))
    at, _ = comparison.first_difference(comparison.align(a.commits, b.commits))
    with browser_page(width=1440, height=1000) as page:
        page.goto(address(served, "compare"))
        settle(page)
        page.get_by_text(re.compile(r"^Replay A \w{8} at the divergence")).click()
        page.wait_for_function("() => document.querySelector('[data-testid=stHeading]')?.innerText === 'Replay'",
                               timeout=60_000)
        page.wait_for_function("s => location.search.includes(s)", arg=f"seq={comparison.divergence_seq(a, at)}",
                               timeout=30_000)
        assert f"run={served['a']}" in page.evaluate("location.search")


def test_row_click_opens_replay_and_pickers_follow_new_runs(served):
    with browser_page(width=1440, height=1000) as page:
        page.goto(address(served, "runs"))
        settle(page)
        grid = page.get_by_test_id("stDataFrame").first
        page.wait_for_selector("[data-testid=stDataFrame] th", state="attached", timeout=60_000)
        # The first column is the row selector: a click there picks the first row.
        box = grid.bounding_box()
        page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)
        page.wait_for_function("() => document.querySelector('[data-testid=stHeading]')?.innerText === 'Replay'", timeout=60_000)
        assert "/replay" in page.evaluate("location.pathname")

        page.goto(address(served, "compare").split("?")[0])
        settle(page)
        picker = page.get_by_role("combobox", name="Two runs to compare")
        picker.click()
        before = page.get_by_role("option").all_inner_texts()
        assert sum("alpha prompt" in o for o in before) == 2 and not any("meanwhile" in o for o in before)
        page.keyboard.press("Escape")
        page.evaluate("window.specvizMarker = 1")  # gone if the page reloads
        new = record_synthetic(served["traces"], rounds=3, k=2, seed=9, prompt="recorded meanwhile")
        picker.click()
        # No reload: the picker's fragment re-lists the directory on its timer.
        page.get_by_role("option", name=re.compile(new[:8])).wait_for(timeout=20_000)
        assert page.evaluate("window.specvizMarker") == 1
