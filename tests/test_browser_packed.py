"""A viewer launched on a run file (`specviz view traces/date=…/run-X.parquet`) that a
compaction packs while it is open: in Debian's chromium, against the real server, the
open Replay page keeps its run (its picker re-lists every 2 s and went empty), the Runs
page says where the run is read from now, and a fresh load replays it from the pack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from specviz.store import read_events
from specviz.store.compact import compact
from synthetic_runs import record_synthetic
from viewer_server import CHROMIUM, browser_page, player_with_run, serve, wait_for_replay

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install -y chromium)"),
    pytest.mark.timeout(300),
]


def test_a_run_file_packed_while_the_viewer_shows_it(tmp_path):
    traces = tmp_path / "traces"
    ids = [record_synthetic(traces, rounds=r, k=3, seed=r, prompt=f"prompt {r}") for r in (6, 8, 10)]
    run_id = ids[1]
    (named,) = traces.glob(f"date=*/run-{run_id}.parquet")
    n_events = len(read_events(named))
    with serve(named) as url, browser_page() as page:
        page.goto(f"{url}/replay?run={run_id[:8]}")
        wait_for_replay(page)
        player_with_run(page, run_id)
        picker = page.get_by_role("combobox", name="Run")
        expect(picker).to_have_value(re.compile(f"^{run_id[:8]} · completed"))

        assert len(compact(traces).packed) == 3 and not named.exists()
        page.wait_for_timeout(5_000)  # two of the picker's re-listings
        expect(page.get_by_text(re.compile("^No runs in"))).to_have_count(0)
        expect(page.get_by_text(re.compile("^Cannot "))).to_have_count(0)
        expect(picker).to_have_value(re.compile(f"^{run_id[:8]} · completed"))

        page.goto(f"{url}/runs")
        expect(page.get_by_text(re.compile(r"was packed into pack-\w+\.parquet \(compaction\); reading run "
                                           + run_id))).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"^1 run\(s\)"))).to_be_visible(timeout=60_000)

        page.goto(f"{url}/replay?run={run_id[:8]}&seq={n_events - 1}")
        frame = player_with_run(page, run_id)
        frame.wait_for_function("n => window.specviz.run.last === n", arg=n_events - 1, timeout=60_000)
        expect(page.get_by_text(re.compile(r"was packed into pack-"))).to_be_visible()
