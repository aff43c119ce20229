"""Every SQL example in the README runs, and gives the value computed by hand from the
events (Python over `read_events` / `list_runs`, not SQL) on a fixture trace."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.models.loading import register_model
from specviz.events import Verify
from specviz.sql import connect, query
from specviz.store import list_runs, read_events
from tiny_models import TinyTokenizer, tiny_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "traces" / "examples"


def readme_sql() -> list[str]:
    """The statements of every ```sql block, and the SQL passed to query() in Python blocks."""
    text = (ROOT / "README.md").read_text()
    statements = []
    for block in re.findall(r"```sql\n(.*?)```", text, re.S):
        body = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("--"))
        statements += [s.strip() for s in body.split(";") if s.strip()]
    statements += re.findall(r'query\(con, "([^"]+)"\)', text)
    statements += [q for q in re.findall(r'specviz(?: --traces \S+)? sql "([^"]+)"', text) if q not in ("QUERY", "...")]
    statements += re.findall(r"`(SELECT [^`]+)`", text)  # inline, in the prose
    return statements


def find(fragment: str) -> str:
    (sql,) = [s for s in readme_sql() if fragment in s]
    return sql


def test_the_readme_examples_are_found():
    assert len(readme_sql()) >= 10


@pytest.mark.parametrize("sql", readme_sql())
def test_every_readme_query_runs_on_the_examples(sql):
    query(connect(EXAMPLES), sql)


def test_per_position_acceptance_counts_a_rejection_once():
    rows = dict(query(connect(EXAMPLES), find("avg((status = 'accepted')::INT)")).rows)
    tested, accepted = defaultdict(int), defaultdict(int)
    for run in list_runs(EXAMPLES):
        for e in read_events(EXAMPLES, run.run_id):
            if isinstance(e, Verify) and e.status in ("accepted", "rejected"):
                tested[e.position] += 1
                accepted[e.position] += e.status == "accepted"
    assert rows == pytest.approx({p: accepted[p] / tested[p] for p in tested})
    assert round(rows[0], 2) == 0.46  # the old query said 0.30: each rejection counted twice


def test_inexact_rows_by_reason():
    rows = query(connect(EXAMPLES), find("inexact_reason, count(*)")).rows
    reasons = defaultdict(int)
    for run in list_runs(EXAMPLES):
        for e in read_events(EXAMPLES, run.run_id):
            if isinstance(e, Verify) and not e.exact:
                reasons[e.inexact_reason] += 1
    assert dict(rows) == reasons  # local targets only in the examples: every row exact


def test_acceptance_by_k_and_temperature():
    got = {(k, t): (a, n) for k, t, a, n in query(connect(EXAMPLES), find("avg(acceptance_rate) AS acceptance")).rows}
    want = defaultdict(list)
    for run in list_runs(EXAMPLES):
        want[(run.started.k, run.started.temperature)].append(run.finished.acceptance_rate)
    for key, rates in want.items():
        known = [r for r in rates if r is not None]
        assert got[key][1] == len(rates)
        assert got[key][0] == (pytest.approx(sum(known) / len(known)) if known else None)
    by_k = dict(query(connect(EXAMPLES), find("GROUP BY k")).rows)
    assert set(by_k) == {run.started.k for run in list_runs(EXAMPLES)}
    by_drafter = {(d, k): a for d, k, a in query(connect(EXAMPLES), find("SELECT drafter, k, avg")).rows}
    assert set(by_drafter) == {(run.started.drafter, run.started.k) for run in list_runs(EXAMPLES)}
    rules = dict(query(connect(EXAMPLES), find("SELECT acceptance_rule")).rows)
    assert rules == dict(Counter(run.started.acceptance_rule for run in list_runs(EXAMPLES)))


def test_tokens_of_a_run_in_order():
    rows = query(connect(EXAMPLES), find("FROM tokens")).rows
    (run,) = [r for r in list_runs(EXAMPLES) if r.run_id.startswith("eb98")]
    committed = [e for e in read_events(EXAMPLES, run.run_id) if isinstance(e, Verify) and e.status != "rejected"]
    assert [(i, t, s) for i, t, s in rows] == [(i, e.token_text, e.status) for i, e in enumerate(committed)]
    assert len(rows) == run.finished.produced


def test_speedups_of_single_run_configurations_are_the_runs_own():
    rows = query(connect(EXAMPLES), find("speedup_ci_high FROM speedups")).rows
    runs = [r for r in list_runs(EXAMPLES) if r.finished.speedup is not None]
    assert sorted((d, k, t, s) for d, k, t, n, s, lo, hi in rows if s is not None) == sorted(
        (r.started.drafter, r.started.k, r.started.temperature, pytest.approx(r.finished.speedup)) for r in runs)
    assert all(lo == s == hi and n == 1 for _, _, _, n, s, lo, hi in rows)


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory):
    """Two configurations x two prompts x three repeats, each divided by its own baseline."""
    register_model("tiny-sql", tiny_model(10, seed=4, layers=3, scale=0.5), TinyTokenizer(10, eos=False), "tiny-llama")
    traces = tmp_path_factory.mktemp("sweep")
    prompts = traces / "prompts.txt"
    prompts.write_text("abcabcab\nbcdbcdbc\n")
    r = CliRunner().invoke(cli, ["--traces", str(traces), "sweep", "--prompts", str(prompts), "--target", "mlx:tiny-sql",
                                 "-k", "2,3", "--max-tokens", "8", "--repeats", "3"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return traces


def test_baseline_provenance_query(sweep_store):
    rows = query(connect(sweep_store), find("r.baseline_kind")).rows
    runs = {r.run_id: r for r in list_runs(sweep_store)}
    assert len(rows) == len(runs) == 3 * (2 + 2 * 2)
    for run_id, speedup, kind, baseline, baseline_tps in rows:
        f = runs[run_id].finished
        if runs[run_id].started.method == "autoregressive":
            assert (speedup, kind, baseline) == (None, "none", None)
            continue
        assert (kind, baseline) == ("measured", f.baseline_run_id)
        assert speedup == pytest.approx(f.tokens_per_s / runs[baseline].finished.tokens_per_s)
        assert baseline_tps == pytest.approx(runs[baseline].finished.tokens_per_s)


def test_speedups_medians_and_intervals(sweep_store):
    con = connect(sweep_store)
    rows = con.execute("SELECT method, k, runs, prompts, runs_with_speedup, tokens_per_s, speedup, speedup_ci_low, "
                       "speedup_ci_high, tokens_per_s_ci_low, tokens_per_s_ci_high, baseline_kinds FROM speedups").fetchall()
    by_config = defaultdict(list)
    for r in list_runs(sweep_store):
        by_config[(r.started.method, r.started.k)].append(r.finished)
    assert len(rows) == len(by_config) == 3
    for method, k, n, prompts, n_speedup, tps, speedup, lo, hi, tps_lo, tps_hi, kinds in rows:
        runs = by_config[(method, k)]
        assert (n, prompts) == (len(runs), 2) and n == 6  # 2 prompts x 3 repeats
        assert tps == pytest.approx(statistics.median(f.tokens_per_s for f in runs))
        assert min(f.tokens_per_s for f in runs) <= tps_lo <= tps <= tps_hi <= max(f.tokens_per_s for f in runs)
        if method == "autoregressive":
            assert (n_speedup, speedup, lo, hi, kinds) == (0, None, None, None, None)
            continue
        speedups = [f.speedup for f in runs]
        assert n_speedup == 6 and kinds == "measured"
        assert speedup == pytest.approx(statistics.median(speedups))
        assert min(speedups) <= lo <= speedup <= hi <= max(speedups) and lo < hi
    again = con.execute("SELECT speedup_ci_low, speedup_ci_high FROM speedups ORDER BY ALL").fetchall()
    assert again == con.execute("SELECT speedup_ci_low, speedup_ci_high FROM speedups ORDER BY ALL").fetchall()
