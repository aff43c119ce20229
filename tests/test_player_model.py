"""The player's JavaScript model and tree against Python's fold, in Debian's chromium.

The player answers every position in the browser (viewer/player/frontend/model.js and
charts.js); here an exported HTML replay is opened and, at every round's end and at
positions inside rounds, its counts, draft statuses and tree nodes are compared with
``specviz.replay`` (itself checked against the plain fold in test_replay.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from specviz.events import DraftToken
from specviz.replay import PENDING, SKIPPED, build_index
from synthetic_runs import synthetic_events
from viewer.player.export import write_html
from viewer_server import CHROMIUM, browser_page

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(300),
]

STATE_JS = """(positions) => positions.map((pos) => {
  const run = window.specviz.run, st = run.at(pos);
  const drafts = [];
  for (let i = 0; i < st.nDrafts; i++) drafts.push([run.drafts.round[i], run.drafts.pos[i], run.draftStatus(i, pos)]);
  const fig = SpecvizCharts.tree(run, st, 1000, 1200, null);
  const nodes = fig.data.length ? fig.data[fig.data.length - 1] : {x: [], color: []};
  return {round: st.round, commits: st.nCommits, metrics: st.nMetrics, drafts, nodes: nodes.x.length,
          trunk: nodes.x.filter((x, i) => nodes.y[i] === 0).length};
})"""


def _positions(events, index) -> list[int]:
    ends = [index.round_end(r) for r in index.rounds]
    inside = [i + 2 for i, e in enumerate(events) if isinstance(e, DraftToken) and e.position == 0][::3]
    return sorted({0, *ends, *inside, len(events) - 1})


@pytest.mark.parametrize("method", ["speculative", "autoregressive"])
def test_player_state_and_tree_match_the_fold(tmp_path, method):
    events = synthetic_events(rounds=25, k=4, seed=8, errors_every=6, method=method)
    index = build_index(events)
    out = write_html(index, tmp_path / "run.html")
    positions = _positions(events, index)
    with browser_page() as page:
        page.goto(out.as_uri())
        page.wait_for_function("() => window.specviz && window.specviz.drawn()", timeout=60_000)
        got = page.evaluate(STATE_JS, positions)
    for pos, js in zip(positions, got):
        state = index.state(pos)
        assert js["round"] == state.round and js["commits"] == len(state.commits), pos
        assert js["metrics"] == len(state.metrics), pos
        assert [tuple(d) for d in js["drafts"]] == [(d.round, d.position, s) for d, s in state.drafts()], pos
        # Each token drawn once: every commit on the trunk, and off it only the drafts that
        # did not become a commit (rejected, not tested, still pending).
        off_trunk = sum(1 for _, s in state.drafts() if s in ("rejected", SKIPPED, PENDING))
        assert js["trunk"] == len(state.commits), pos
        assert js["nodes"] == len(state.commits) + off_trunk, pos
