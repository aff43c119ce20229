"""`specviz export --format perfetto` writes Trace Event Format JSON that obeys the format's rules.

Checked on the engine-recorded example traces (speculative and autoregressive runs): every
event has the fields its phase needs, complete events have non-negative durations,
timestamps are microseconds and never go back on a track, flow arrows start inside a
draft span and end inside the verify span of the same round, and each verdict's instant
event carries the token with its p and q.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from recorder.cli import cli
from specviz.perfetto import TRACKS
from specviz.store import list_runs, read_events

EXAMPLES = Path(__file__).resolve().parents[1] / "traces" / "examples"
REQUIRED = {"X": {"name", "ts", "dur", "pid", "tid"}, "i": {"name", "ts", "pid", "tid", "s"},
            "C": {"name", "ts", "pid", "args"}, "M": {"name", "pid", "args"},
            "s": {"name", "ts", "pid", "tid", "id"}, "f": {"name", "ts", "pid", "tid", "id", "bp"}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    runs = [r.run_id for r in list_runs(EXAMPLES)]
    out = tmp_path_factory.mktemp("perfetto") / "trace.json"
    result = CliRunner().invoke(cli, ["--traces", str(EXAMPLES), "export", *runs, "--format", "perfetto", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return runs, json.loads(out.read_text())


def test_every_event_has_its_phase_fields(exported):
    _, doc = exported
    assert doc["displayTimeUnit"] == "ms"
    for e in doc["traceEvents"]:
        assert e["ph"] in REQUIRED, e
        assert REQUIRED[e["ph"]] <= set(e), e
        if e["ph"] == "X":
            assert e["dur"] >= 0
        if "ts" in e:
            assert isinstance(e["ts"], (int, float)) and math.isfinite(e["ts"]) and e["ts"] >= 0


def test_one_named_process_per_run(exported):
    runs, doc = exported
    names = {e["pid"]: e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name"}
    assert len(names) == len(runs)
    assert sorted(n.split()[0] for n in names.values()) == sorted(runs)


def test_timestamps_never_go_back_on_a_track(exported):
    _, doc = exported
    last: dict[tuple, float] = defaultdict(float)
    for e in doc["traceEvents"]:
        if e["ph"] == "M":
            continue
        key = (e["pid"], e.get("tid"), e["ph"] == "C" and e["name"])
        assert e["ts"] >= last[key], e
        last[key] = e["ts"]


def test_spans_are_microseconds_of_the_recorded_phases(exported):
    runs, doc = exported
    events = read_events(EXAMPLES, runs[0])
    rounds = [e for e in events if e.__struct_config__.tag == "round_metrics"]
    pid = next(e["pid"] for e in doc["traceEvents"] if e["name"] == "process_name" and e["args"]["name"].startswith(runs[0]))
    spans = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["pid"] == pid and e["tid"] == TRACKS["round"]]
    assert len(spans) == len(rounds)
    for span, rm in zip(spans, rounds):
        assert span["dur"] == pytest.approx(rm.round_ms * 1e3, abs=1.0)


def test_flows_join_each_draft_to_the_verify_that_judged_it(exported):
    _, doc = exported
    by_id = defaultdict(dict)
    for e in doc["traceEvents"]:
        if e["ph"] in "sf":
            by_id[e["id"]][e["ph"]] = e
    assert by_id, "speculative example runs must have flows"
    xs = [e for e in doc["traceEvents"] if e["ph"] == "X"]

    def inside(ev, track):
        return any(x["pid"] == ev["pid"] and x["tid"] == TRACKS[track] and x["ts"] <= ev["ts"] <= x["ts"] + x["dur"]
                   for x in xs)

    for pair in by_id.values():
        assert set(pair) == {"s", "f"}
        assert inside(pair["s"], "draft") and inside(pair["f"], "verify")
        assert pair["s"]["ts"] <= pair["f"]["ts"]


def test_verdicts_carry_token_p_and_q(exported):
    _, doc = exported
    verdicts = [e for e in doc["traceEvents"] if e["ph"] == "i" and e["name"] in ("accepted", "rejected", "resampled", "bonus")]
    assert {"accepted", "bonus"} <= {e["name"] for e in verdicts}
    for e in verdicts:
        assert "token" in e["args"] and 0 <= e["args"].get("p", 0) <= 1
        if e["name"] == "accepted" and "q" in e["args"]:
            assert 0 < e["args"]["q"] <= 1
