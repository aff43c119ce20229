"""The client-side replay player in Debian's chromium (Playwright), served by `streamlit
run` on 127.0.0.1, on synthetic runs written through the recording API: keyboard, pause,
the text panel following the position, tooltips with each token's own numbers, the URL
following the position, and the self-contained HTML export opened with the network off."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.replay import build_index
from specviz.store import read_events
from synthetic_runs import record_synthetic
from viewer_server import CHROMIUM, browser_page, serve, wait_for_replay

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(300),
]

POS = "() => window.specviz.pos"
IN_VIEW = """() => {
    const panel = document.getElementById('text').getBoundingClientRect();
    const cur = document.querySelector('#text .cur').getBoundingClientRect();
    return panel.top <= cur.top && cur.bottom <= panel.bottom;
}"""


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    long_run = record_synthetic(d, rounds=150, k=4, seed=5, errors_every=13)
    return {"dir": d, "long": long_run, "index": build_index(read_events(d, long_run))}


@pytest.fixture(scope="module")
def served(traces):
    with serve(traces["dir"]) as url:
        yield url


def test_keyboard_pause_and_url(traces, served):
    index = traces["index"]
    with browser_page() as page:
        page.goto(f"{served}/replay?run={traces['long'][:8]}&seq=100")
        frame = wait_for_replay(page)
        assert frame.evaluate(POS) == 100
        # The player fetched the run itself (viewer/prefetch.py); nothing came through the websocket.
        assert frame.evaluate("() => window.specviz.received.map((r) => r[0])") == ["fetched"]
        assert frame.locator("#caption").inner_text().startswith("event 100 of ")
        frame.locator("#text").focus()
        page.keyboard.press("ArrowLeft")
        assert frame.evaluate(POS) == 99
        page.keyboard.press("Shift+ArrowRight")  # to the end of event 99's round (or the next)
        rnd = index.event_round[99]
        want = index.round_end(rnd + 1 if index.round_end(rnd) == 99 else rnd)
        assert frame.evaluate(POS) == want
        page.keyboard.press("Shift+ArrowLeft")
        assert frame.evaluate(POS) == index.round_end(index.event_round[want] - 1)
        # The URL follows the position (posted back at most once a second).
        pos = frame.evaluate(POS)
        page.wait_for_function("s => location.search.includes(s)", arg=f"seq={pos}", timeout=45_000)

        # Space plays; space again pauses, and no frame after the pause moves the position.
        frame.evaluate("() => { const s = document.getElementById('speed'); s.value = '5'; s.dispatchEvent(new Event('change')); }")
        page.keyboard.press("Space")
        frame.wait_for_function("p => window.specviz.pos > p + 5", arg=pos, timeout=20_000)
        page.keyboard.press("Space")
        paused = frame.evaluate("() => [window.specviz.playing, window.specviz.pos]")
        assert paused[0] is False
        frame.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
        page.wait_for_timeout(700)
        assert frame.evaluate(POS) == paused[1]
        assert frame.locator("#btn-play").inner_text().endswith("Play")


def test_text_follows_and_tooltip_tells_the_tokens_own_p(traces, served):
    index = traces["index"]
    assert len(index.commits) >= 400
    with browser_page(1400, 1000) as page:
        page.goto(f"{served}/replay?run={traces['long']}")
        frame = wait_for_replay(page)
        assert frame.evaluate(POS) == index.n_events - 1  # a finished run opens at its end
        # The current token is inside the text panel's visible area at the end of the run.
        box = frame.evaluate("""() => {
            const panel = document.getElementById('text').getBoundingClientRect();
            const cur = document.querySelector('#text .cur').getBoundingClientRect();
            return {panel: [panel.top, panel.bottom], cur: [cur.top, cur.bottom], text: document.querySelector('#text .cur').textContent};
        }""")
        assert box["panel"][0] <= box["cur"][0] and box["cur"][1] <= box["panel"][1], box
        assert box["text"] == index.commits[-1].verify.token_text
        # Scrub back: the panel follows to an earlier token.
        frame.locator("#btn-start").click()
        frame.evaluate(f"() => window.specviz.goto({index.commits[50].seq})")
        frame.wait_for_function("() => window.specviz.drawn()")
        last_shown = frame.evaluate("() => [...document.querySelectorAll('#commits span:not([hidden])')].pop().dataset.c")
        assert last_shown == "50"  # the text stops at the position (drafts after it trail as pending)
        assert frame.evaluate(IN_VIEW)

        # A resampled token's tooltip shows that token's own p, and the rejected draft apart.
        frame.locator("#btn-end").click()
        c = next(c for c in index.commits if c.verify.status == "resampled")
        span = frame.locator(f'#commits span[data-c="{c.index}"]')
        span.scroll_into_view_if_needed()
        span.hover()
        tip = frame.locator("#tip").inner_text()
        own = 100 * math.exp(c.verify.final_logprob)
        assert f"p(this token) {own:.1f}%" in tip, tip
        rejected = index.events[c.draft.verdict_at]
        line = next(l for l in tip.splitlines() if l.startswith("rejected draft"))
        assert f"acceptance min(1, p/q) {100 * rejected.acceptance_prob:.1f}%" in line
        assert f"u {rejected.u:.3f}" in line


def test_tree_and_timeline_clicks_jump(traces, served):
    index = traces["index"]
    with browser_page() as page:
        page.goto(f"{served}/replay?run={traces['long']}&seq=300")
        frame = wait_for_replay(page)
        # Click the first timeline span drawn: the position moves to the end of its round.
        target = frame.evaluate("""() => {
            const gd = document.getElementById('chart-timeline'), fl = gd._fullLayout, tr = gd._fullData[0];
            const i = 0, x = fl.xaxis.l2p(tr.base[i] + tr.x[i] / 2) + fl.xaxis._offset;
            const y = fl.yaxis.l2p(fl.yaxis.d2l(tr.y[i])) + fl.yaxis._offset;
            const r = gd.getBoundingClientRect();
            return {x: r.left + x, y: r.top + y, round: tr.customdata[i][0], seq: tr.customdata[i][1]};
        }""")
        page_box = page.locator("iframe[title*='specviz_player']").bounding_box()
        page.mouse.click(page_box["x"] + target["x"], page_box["y"] + target["y"])
        frame.wait_for_function("s => window.specviz.pos === s", arg=target["seq"], timeout=10_000)
        assert index.event_round[target["seq"]] == target["round"]
        # Click a committed token on the tree: the position moves to its verdict.
        node = frame.evaluate("""() => {
            const c = document.querySelector('#chart-tree circle'), r = c.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, seq: Number(c.dataset.seq)};
        }""")
        page.mouse.click(page_box["x"] + node["x"], page_box["y"] + node["y"])
        frame.wait_for_function("s => window.specviz.pos === s", arg=node["seq"], timeout=10_000)
        # Hovering a resampled token on the tree tells that token's own p, as the text panel does.
        frame.locator("#btn-end").click()
        frame.wait_for_function("() => window.specviz.drawn()")
        node = frame.evaluate("""() => {
            const c = [...document.querySelectorAll('#chart-tree circle')].find((c) => c.style.display !== 'none'
                && c.style.visibility !== 'hidden' && c.getAttribute('fill') === '#ea580c'), r = c.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, seq: Number(c.dataset.seq)};
        }""")
        page.mouse.move(page_box["x"] + node["x"], page_box["y"] + node["y"])
        frame.wait_for_selector("#tip:not([hidden])", timeout=5_000)
        commit = next(c for c in index.commits if c.seq == node["seq"])
        assert commit.verify.status == "resampled"
        assert f"p(this token) {100 * math.exp(commit.verify.final_logprob):.1f}%" in frame.locator("#tip").inner_text()



def test_a_failed_fetch_falls_back_to_the_page(traces, served):
    """The player fetches the run itself (viewer/prefetch.py); when that request fails
    (here: the browser aborts it), the player says so and the page sends the run through
    Streamlit instead, at the linked position."""
    with browser_page() as page:
        page.route("**/specviz/payload*", lambda route: route.abort())
        page.goto(f"{served}/replay?run={traces['long']}&seq=120")
        frame = wait_for_replay(page)
        assert frame.evaluate("() => window.specviz.received.map((r) => r[0])") == ["whole"]
        assert frame.evaluate(POS) == 120
        assert frame.evaluate("() => window.specviz.fetchFailed") is True

def test_html_export_plays_offline(traces, tmp_path):
    out = tmp_path / "run.html"
    r = CliRunner().invoke(cli, ["--traces", str(traces["dir"]), "export", traces["long"][:6], "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert re.search(r"exported run \w+ to .*run\.html", r.output)
    two = CliRunner().invoke(cli, ["--traces", str(traces["dir"]), "export", traces["long"], "ffff", "-o", str(out)])
    assert two.exit_code == 1 and "one run" in two.output
    index = traces["index"]
    with browser_page() as page:
        asked = []
        page.context.route(re.compile(r"^(?!file:).*"), lambda route: (asked.append(route.request.url), route.abort()))
        page.context.set_offline(True)
        page.goto(out.as_uri())
        page.wait_for_function("() => window.specviz && window.specviz.drawn()", timeout=60_000)
        assert page.evaluate(POS) == index.n_events - 1
        assert page.locator(".chart .main-svg").count() >= 5  # every Plotly chart
        assert page.locator("#chart-tree circle").count() > 0  # and the tree (plain SVG)
        page.locator("#btn-start").click()
        page.keyboard.press("Space")
        page.wait_for_function("() => window.specviz.pos > 20", timeout=20_000)
        page.keyboard.press("Space")
        assert page.evaluate("() => window.specviz.playing") is False
        text = page.locator("#commits").inner_text()
        assert text and index.commits[0].verify.token_text.strip() in text
        assert asked == []  # nothing was fetched: the file holds everything
