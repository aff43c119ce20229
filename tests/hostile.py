"""A generator of hostile and damaged trace-directory entries, for the store's tests.

Each `Entry` builds one bad thing inside a trace directory: a truncated or bit-flipped
trace, someone else's Parquet, a future schema, a footer that is valid JSON but not a
valid run, out-of-range clocks, a FIFO, directory or link wearing a trace's name, bad
``seq`` values, a damaged live log (JSON, and the compiled recorder's binary format). Entries are deterministic (seeded) and each writes
under names of its own, so any number of them can share one directory.

``importable``: True when `specviz import` must accept the file, False when it must
refuse it, None when either is right (a bit flip may or may not land on data that
matters) as long as whatever is imported is consistent.
"""

from __future__ import annotations

import enum
import os
import random
import socket
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import store_sample

from specviz.events import DraftToken, RoundMetrics, RunFinished, TopToken
from specviz.recording import open_run
from specviz.store import binlog
from specviz.store import hotpath

VICTIM = "dddd00000000beef"  # the run every damaged copy claims to be
T0 = 1_700_000_000_000_000_000  # 2023-11-14, in ns


@dataclass(frozen=True)
class Entry:
    name: str
    build: Callable[[Path, str], list[Path]]  # (trace dir, unique tag) -> paths it created
    importable: bool | None = False


def _victim_events() -> list:
    events = [store_sample.started(), *store_sample.body(), store_sample.finished()]
    for seq, ev in enumerate(events):
        ev.run_id, ev.seq, ev.t_mono_ns, ev.t_wall_ns = VICTIM, seq, 1000 + seq, T0 + seq
    return events


def victim_bytes(tmp: Path) -> bytes:
    """A complete, valid trace file of run VICTIM (the thing the entries damage)."""
    from specviz.store.parquet_file import events_to_parquet

    events = _victim_events()
    path = events_to_parquet(events, tmp / f"run-{VICTIM}.parquet", events[0], events[-1])
    return path.read_bytes()


def log_lines() -> list[bytes]:
    """A live log's lines (one flush each) for an unfinished run of 12 events."""
    events = _victim_events()[:-1]
    enc = msgspec.json.Encoder()
    return [enc.encode(events[:1]) + b"\n", enc.encode(events[1:6]) + b"\n", enc.encode(events[6:]) + b"\n"]


def _place(traces: Path, tag: str, name: str | None = None) -> Path:
    """Where an entry's trace file goes: a partition of its own, a name of its own."""
    d = traces / f"date=h{tag}"
    d.mkdir(parents=True, exist_ok=True)
    return d / (name or f"run-{VICTIM}.parquet")


def _write(data: bytes) -> Callable[[Path, str], list[Path]]:
    def build(traces: Path, tag: str) -> list[Path]:
        p = _place(traces, tag)
        p.write_bytes(data)
        return [p]

    return build


def _table(victim: bytes) -> tuple[pa.Table, dict[bytes, bytes]]:
    import io

    table = pq.read_table(io.BytesIO(victim))
    return table, dict(pq.read_metadata(io.BytesIO(victim)).metadata)


def _rewritten(victim: bytes, table_fn=None, **kv: str | None) -> Callable[[Path, str], list[Path]]:
    """The victim with its rows and/or footer keys rewritten (None removes a key)."""

    def build(traces: Path, tag: str) -> list[Path]:
        table, meta = _table(victim)
        if table_fn is not None:
            table = table_fn(table)
        for k, v in kv.items():
            key = k.replace("__", ".").encode()
            if v is None:
                meta.pop(key, None)
            else:
                meta[key] = v.encode()
        p = _place(traces, tag)
        pq.write_table(table.replace_schema_metadata(meta), p)
        return [p]

    return build


def _runs_json(victim: bytes, change: Callable[[list], object]) -> str:
    _, meta = _table(victim)
    runs = msgspec.json.decode(meta[b"specviz.runs"])
    out = change(runs)
    return (out if isinstance(out, str) else msgspec.json.encode(runs if out is None else out).decode())


def _set(path: str, value) -> Callable[[list], None]:
    """A change to the first run entry: "run_started.t_wall_ns" = value (the key dropped for ...)."""

    def change(runs: list) -> None:
        *parents, last = path.split(".")
        node = runs[0]
        for p in parents:
            node = node[p]
        if value is ...:
            node.pop(last, None)
        else:
            node[last] = value

    return change


def _column(name: str, fn) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        i = table.column_names.index(name)
        return table.set_column(i, name, fn(table.column(name)))

    return change


def truncated(victim: bytes) -> list[Entry]:
    n = len(victim)
    cuts = sorted({0, 1, 4, 8, 12, n // 2, n - 1, n - 4, n - 8, n - 12, *(n * i // 37 for i in range(1, 37))})
    return [Entry(f"truncated-{c}", _write(victim[:c])) for c in cuts if c < n]


def bit_flipped(victim: bytes, count: int = 150, seed: int = 13) -> list[Entry]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = bytearray(victim)
        # Half anywhere, half in the footer (the last ~2 KB), where one flip does the most harm.
        pos = rng.randrange(len(data)) if i % 2 else rng.randrange(max(0, len(data) - 2048), len(data) - 8)
        data[pos] ^= 1 << rng.randrange(8)
        out.append(Entry(f"bitflip-{i}-at-{pos}", _write(bytes(data)), importable=None))
    return out


def foreign(victim: bytes) -> list[Entry]:
    def seq_as(kind):
        return _column("seq", lambda c: pa.array([str(v) for v in c.to_pylist()]) if kind == "str" else c.cast(kind))

    specviz_kv = {"specviz.schema_version": "1.1", "specviz.runs": _runs_json(victim, lambda r: None)}
    return [
        Entry("foreign-plain", lambda t, g: _plain(t, g, pa.table({"x": [1, 2, 3]}), {})),
        Entry("foreign-empty", lambda t, g: _plain(t, g, pa.table({"x": pa.array([], pa.int64())}), {})),
        Entry("foreign-with-our-metadata", lambda t, g: _plain(t, g, pa.table({"x": [1]}), specviz_kv)),
        Entry("foreign-kind-runid-only", lambda t, g: _plain(t, g, pa.table({"kind": ["x"], "run_id": [VICTIM]}), specviz_kv)),
        Entry("seq-as-string", _rewritten(victim, seq_as("str"))),
        Entry("seq-as-double", _rewritten(victim, seq_as(pa.float64()))),
        Entry("seq-as-int32", _rewritten(victim, seq_as(pa.int32()))),
        Entry("kind-as-int", _rewritten(victim, _column("kind", lambda c: pa.array(range(len(c)))))),
        Entry("round-as-string", _rewritten(victim, _column("round", lambda c: pa.array([str(v) for v in c.to_pylist()])))),
        Entry("top-as-string", _rewritten(victim, _column("top", lambda c: pa.array([str(v) for v in c.to_pylist()])))),
        Entry("no-rows", _rewritten(victim, lambda t: t.slice(0, 0))),
        Entry("extra-column", _rewritten(victim, lambda t: t.append_column("zz_future", pa.array(range(len(t))))), importable=True),
    ]


def _plain(traces: Path, tag: str, table: pa.Table, kv: dict) -> list[Path]:
    p = _place(traces, tag)
    pq.write_table(table.replace_schema_metadata({k.encode(): v.encode() for k, v in kv.items()}), p)
    return [p]


def versions(victim: bytes) -> list[Entry]:
    bad = ["2.0", "99.1", "abc", "", "1", "1.1.1", "-1.0", "0.9", "1e9.0", "9" * 40 + ".0", "1.x", " 1.1", "\x1b[31m1.1"]
    out = [Entry(f"version-{v!r}", _rewritten(victim, specviz__schema_version=v)) for v in bad]
    out.append(Entry("version-future-minor", _rewritten(victim, specviz__schema_version="1.99"), importable=True))
    out.append(Entry("version-missing", _rewritten(victim, specviz__schema_version=None)))
    return out


def footers(victim: bytes) -> list[Entry]:
    raw = ["", "{}", "[]", "[{}]", "null", "[null]", "[1]", '[{"run_started": null}]', "[" * 10000, '"x"', "[{", "\xff\xfe"]
    out = [Entry(f"runs-json-{i}", _rewritten(victim, specviz__runs=r)) for i, r in enumerate(raw)]
    out.append(Entry("runs-missing", _rewritten(victim, specviz__runs=None)))
    changes = {
        "no-status": _set("run_finished.status", ...),
        "no-run-started": lambda r: r[0].pop("run_started"),
        "status-ansi": _set("run_finished.status", "\x1b[31mcompleted\x1b[0m"),
        "status-unknown": _set("run_finished.status", "exploded"),
        "method-ansi": _set("run_started.method", "\x1b]0;pwned\x07"),
        "kind-wrong": _set("run_started.kind", "verify"),
        "run-id-not-hex": _set("run_started.run_id", "zzzz"),
        "run-id-path": _set("run_started.run_id", "../../../../tmp/x"),
        "run-id-empty": _set("run_started.run_id", ""),
        "run-id-int": _set("run_started.run_id", 12345),
        "prompt-int": _set("run_started.prompt", 7),
        "prompt-missing": _set("run_started.prompt", ...),
        "k-huge": _set("run_started.k", 2**70),
        "k-negative-huge": _set("run_started.k", -(2**70)),
        "seed-huge": _set("run_started.seed", 2**64),
        "temperature-string": _set("run_started.temperature", "hot"),
        "tags-nested": _set("run_started.tags", {"a": {"b": 1}}),
        "versions-list": _set("run_started.versions", [1, 2]),
        "token-ids-huge": _set("run_started.prompt_token_ids", [2**65]),
        "finished-seq-negative": _set("run_finished.seq", -5),
        "finished-other-run": _set("run_finished.run_id", "abcdabcdabcdabcd"),
        "duplicated-entry": lambda r: r.append(r[0]),
        "output-ids-huge": _set("run_finished.output_token_ids", [2**80]),
        "survival-strings": _set("run_finished.survival", ["a"]),
        "histogram-huge": _set("run_finished.accepted_histogram", [10**30]),
    }
    for name, change in changes.items():
        out.append(Entry(f"footer-{name}", _rewritten(victim, specviz__runs=_runs_json(victim, change))))
    return out


def clocks(victim: bytes) -> list[Entry]:
    values = {"neg": -1, "int64max+1": 2**63, "huge": 10**30, "year-10000": 253402300800 * 10**9, "float": 1.5e18,
              "string": "soon", "min": -(2**63)}
    out = []
    for where in ("run_started", "run_finished"):
        for name, v in values.items():
            out.append(Entry(f"clock-{where}-{name}", _rewritten(victim, specviz__runs=_runs_json(victim, _set(f"{where}.t_wall_ns", v)))))
        # The last nanosecond int64 holds (2262) is odd but a time: it must work everywhere.
        out.append(Entry(f"clock-{where}-int64max", _rewritten(victim, specviz__runs=_runs_json(victim, _set(f"{where}.t_wall_ns", 2**63 - 1))),
                         importable=True))
    return out


def bad_seq(victim: bytes) -> list[Entry]:
    def seq(fn):
        return _column("seq", lambda c: pa.array(fn(c.to_pylist()), pa.int64()))

    cases = {
        "negative": lambda s: [v - 1 for v in s],
        "duplicate": lambda s: [min(v, len(s) - 2) for v in s],
        "gap": lambda s: [v if v < 5 else v + 1 for v in s],
        "shifted": lambda s: [v + 1 for v in s],
        "all-zero": lambda s: [0 for _ in s],
        "huge": lambda s: [v if v else 2**62 for v in s],
    }
    out = [Entry(f"seq-{name}", _rewritten(victim, seq(fn))) for name, fn in cases.items()]
    out.append(Entry("seq-null", _rewritten(victim, _column("seq", lambda c: pa.array([None] + c.to_pylist()[1:], pa.int64())))))
    out.append(Entry("rows-duplicated", _rewritten(victim, lambda t: pa.concat_tables([t, t.slice(3, 2)]))))
    out.append(Entry("rows-dropped", _rewritten(victim, lambda t: t.slice(1))))
    out.append(Entry("rows-shuffled", _rewritten(victim, lambda t: t.take(list(range(len(t)))[::-1])), importable=True))
    out.append(Entry("rows-other-run", _rewritten(victim, _column("run_id", lambda c: pa.array(["eeee"] * len(c))))))
    out.append(Entry("first-row-not-started", _rewritten(victim, _column("kind", lambda c: pa.array(["error"] + c.to_pylist()[1:])))))
    return out


def _special(kind: str) -> Callable[[Path, str], list[Path]]:
    """A non-regular file (or a link) where a trace or a log should be."""

    def build(traces: Path, tag: str) -> list[Path]:
        if kind.startswith("log-"):
            (traces / "_live").mkdir(exist_ok=True)
            p = traces / "_live" / f"run-{int(tag, 16) + 0xabc000:016x}.jsonl"
        else:
            p = _place(traces, tag)
        what = kind.removeprefix("log-")
        if what == "fifo":
            os.mkfifo(p)
        elif what == "dir":
            p.mkdir()
        elif what == "socket":
            short = Path(tempfile.mkdtemp(dir="/tmp")) / "s"  # AF_UNIX paths are short; rename it into place
            s = socket.socket(socket.AF_UNIX)
            s.bind(str(short))
            s.close()
            os.rename(short, p)
            short.parent.rmdir()
        elif what == "device":
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null; root only
        elif what == "link-out":
            p.symlink_to("/etc/passwd")
        elif what == "link-dangling":
            p.symlink_to(traces / "nowhere")
        elif what == "link-loop":
            p.symlink_to(p)
        elif what == "link-dir-out":
            p.symlink_to("/")
        elif what == "unreadable":
            p.write_bytes(b"x")
            p.chmod(0)
        return [p]

    return build


def _partition_link(traces: Path, tag: str) -> list[Path]:
    """A whole date= partition that is a link to a directory outside the trace directory."""
    outside = traces.parent / f"outside-{tag}"
    outside.mkdir(exist_ok=True)
    (outside / f"run-{VICTIM}.parquet").write_bytes(b"PAR1")
    link = traces / f"date=link{tag}"
    link.symlink_to(outside, target_is_directory=True)
    return [link / f"run-{VICTIM}.parquet"]


def specials() -> list[Entry]:
    kinds = ["fifo", "dir", "socket", "device", "link-out", "link-dangling", "link-loop", "link-dir-out", "unreadable"]
    out = [Entry(f"special-{k}", _special(k)) for k in kinds]
    out += [Entry(f"special-log-{k}", _special(f"log-{k}")) for k in kinds]
    out.append(Entry("special-partition-link", _partition_link))
    return out


def _log(data: bytes, name: str | None = None) -> Callable[[Path, str], list[Path]]:
    def build(traces: Path, tag: str) -> list[Path]:
        (traces / "_live").mkdir(exist_ok=True)
        p = traces / "_live" / (name or f"run-{int(tag, 16) + 0xabc000:016x}.jsonl")
        p.write_bytes(data)
        return [p]

    return build


def live_logs(seed: int = 31) -> list[Entry]:
    lines = log_lines()
    good = b"".join(lines)
    enc = msgspec.json.Encoder()
    ev = _victim_events()
    rng = random.Random(seed)
    out = [
        Entry("log-empty", _log(b"")),
        Entry("log-garbage", _log(b"\x00\xff" * 100 + b"\n")),
        Entry("log-not-json", _log(b"hello\nworld\n")),
        Entry("log-first-not-started", _log(lines[1] + lines[2])),
        Entry("log-no-newline", _log(lines[0].rstrip(b"\n"))),
        Entry("log-long-first-line", _log(b"[" + b" " * (1 << 20))),
        Entry("log-torn", _log(good[:-7])),
        Entry("log-name-not-hex", _log(good, name="run-zz-top.jsonl")),
        Entry("log-after-finished", _log(good + enc.encode([ev[-1]]) + b"\n" + lines[1])),
        Entry("log-seq-backwards", _log(lines[0] + lines[2] + lines[1])),
        Entry("log-started-twice", _log(lines[0] + lines[0] + lines[1])),
    ]
    for name, value in {"neg": -1, "huge": 10**30, "int64max": 2**63 - 1, "year-10000": 253402300800 * 10**9}.items():
        started = msgspec.structs.replace(ev[0], t_wall_ns=value) if isinstance(value, int) and value < 2**63 else None
        first = enc.encode([started]) if started else lines[0].replace(str(T0).encode(), str(value).encode(), 1)
        out.append(Entry(f"log-clock-{name}", _log(first.rstrip(b"\n") + b"\n" + lines[1] + lines[2])))
    out.append(Entry("log-k-huge", _log(lines[0].replace(b'"k":2', b'"k":' + str(2**70).encode()) + lines[1])))
    out.append(Entry("log-int-huge", _log(lines[0] + lines[1].replace(b'"round":0', b'"round":' + str(2**70).encode(), 1))))
    for i in range(40):
        data = bytearray(good)
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        out.append(Entry(f"log-bitflip-{i}-at-{pos}", _log(bytes(data))))
    for i, cut in enumerate(sorted({len(good) * j // 13 for j in range(1, 13)})):
        out.append(Entry(f"log-truncated-{cut}", _log(good[:cut])))
    return out


def binary_log() -> bytes:
    """The unfinished run of log_lines() as the compiled recorder logs it (binlog.py):
    the header and one frame per flush (run_started, then a frame per round)."""
    forced = os.environ.pop("SPECVIZ_RECORDER", None)  # this log is the compiled path's
    try:
        return _binary_log()
    finally:
        if forced is not None:
            os.environ["SPECVIZ_RECORDER"] = forced


def _binary_log() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        events = _victim_events()[:-1]
        rec = open_run(d, events[0], flush="round")
        for ev in events[1:]:
            rec.log(ev)
        rec.flush()
        data = rec._writer.path.read_bytes()
        rec._recorder.close()
        rec._writer.remove()
    assert data.startswith(binlog.MAGIC), "the compiled recorder wrote this log"
    return data


def binary_logs(seed: int = 37) -> list[Entry]:
    """Damaged live logs of the compiled recorder's binary format."""
    if not hotpath.COMPILED:
        return []  # test_recorder_paths.py fails on that already
    good = binary_log()
    head = len(binlog.MAGIC) + 4 + int.from_bytes(good[len(binlog.MAGIC):len(binlog.MAGIC) + 4], "little")
    rng = random.Random(seed)
    out = [
        Entry("binlog-magic-only", _log(binlog.MAGIC)),
        Entry("binlog-header-only", _log(good[:head])),
        Entry("binlog-header-garbage", _log(binlog.MAGIC + (20).to_bytes(4, "little") + b"\xff" * 20 + good[head:])),
        Entry("binlog-header-huge", _log(binlog.MAGIC + (2**32 - 1).to_bytes(4, "little") + good[head:])),
        Entry("binlog-frame-huge", _log(good[:head] + (2**32 - 1).to_bytes(4, "little") + good[head + 4:])),
        Entry("binlog-bad-kind", _log(good[:head + 4] + b"\x63" + good[head + 5:])),
        Entry("binlog-first-not-started", _log(good[:head + 4] + b"\x01" + good[head + 5:])),
        Entry("binlog-unknown-code", _log(good.replace(b'"i"', b'"q"', 1))),
        Entry("binlog-garbage-tail", _log(good + bytes(rng.randrange(256) for _ in range(64)))),
    ]
    for i in range(40):
        data = bytearray(good)
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        out.append(Entry(f"binlog-bitflip-{i}-at-{pos}", _log(bytes(data))))
    for cut in sorted({len(good) * j // 17 for j in range(1, 17)}):
        out.append(Entry(f"binlog-truncated-{cut}", _log(good[:cut])))
    return out


def finished_victim() -> RunFinished:
    return _victim_events()[-1]


def _pack(data: bytes | None, name: str = "pack-{tag}", *, shadow: Callable[[pa.Table], pa.Table] | None = None):
    """A file with a pack's name (`specviz compact`): ``data`` in a partition of its own,
    or (``shadow``) a copy of a good run, its rows changed by ``shadow``, as a pack in
    that run's own partition, where it claims a run a run file already holds."""

    def build(traces: Path, tag: str) -> list[Path]:
        if shadow is None:
            p = _place(traces, tag, name.format(tag=f"{int(tag, 16):016x}") + ".parquet")
            p.write_bytes(data)
            return [p]
        good = sorted(traces.glob("date=2*/run-*.parquet"))[1]
        table, meta = pq.read_table(good), pq.read_metadata(good).metadata
        p = good.parent / f"pack-{int(tag, 16) + 0xfeed0000:016x}.parquet"
        pq.write_table(shadow(table).replace_schema_metadata(meta), p)
        return [p]

    return build


def packs(victim: bytes) -> list[Entry]:
    rng = random.Random(29)
    out = [
        Entry("pack-from-another-day", _pack(victim), importable=True),
        Entry("pack-bad-name", _pack(victim, "pack-zz"), importable=True),
        # Valid copies of a good run (import takes them; a run the target already has is refused)
        Entry("pack-shadows-a-good-run-same-rows", _pack(None, shadow=lambda t: t), importable=None),
        Entry("pack-shadows-a-good-run-other-text", importable=None,
              build=_pack(None, shadow=_column("token_text", lambda c: pa.array(["X" if v else v for v in c.to_pylist()])))),
        Entry("pack-shadows-a-good-run-twice-the-rows", _pack(None, shadow=lambda t: pa.concat_tables([t, t]))),
    ]
    for i in range(20):
        data = bytearray(victim)
        pos = rng.randrange(len(data)) if i % 2 else rng.randrange(max(0, len(data) - 2048), len(data) - 8)
        data[pos] ^= 1 << rng.randrange(8)
        out.append(Entry(f"pack-bitflip-{i}-at-{pos}", _pack(bytes(data)), importable=None))
    out += [Entry(f"pack-truncated-{c}", _pack(victim[:c])) for c in sorted({0, 4, len(victim) // 3, len(victim) - 8, len(victim) - 1})]
    return out


def all_entries(victim: bytes) -> list[Entry]:
    """Every entry, in a fixed order (hundreds of them)."""
    return [*truncated(victim), *bit_flipped(victim), *foreign(victim), *versions(victim), *footers(victim),
            *clocks(victim), *bad_seq(victim), *specials(), *live_logs(), *binary_logs(), *packs(victim)]


# ---- the binary live log, swept: hundreds of damaged copies of one log, each with the
# number of events a reader must still recover from it (its intact prefix) ----


@dataclass(frozen=True)
class LogCase:
    name: str
    data: bytes
    keep: int  # events in the whole frames before the first damaged byte: recovery keeps them
    events: tuple = ()  # the events logged, when not odd_run()'s


def odd_run() -> list:
    """An unfinished run whose floats include NaN, ±inf and -0.0 and whose text is odd
    (every one of them a value the log must give back as it was)."""
    events = _victim_events()[:-1]
    odd = [float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1.7976931348623157e308]
    for i, x in enumerate(odd):
        events.append(DraftToken(round=2, position=i, token_id=i, token_text=["\x00", "é中😀", "\u2028", "\n\"", "", "x" * 300][i],
                                 logprob=x, entropy=None if i % 2 else x, top=[TopToken(i, "t", x)], draft_ms=x))
    events.append(RoundMetrics(round=2, drafted=6, alpha=float("nan"), speedup=float("inf")))
    for seq, ev in enumerate(events):
        ev.run_id, ev.seq, ev.t_mono_ns, ev.t_wall_ns = VICTIM, seq, 1000 + seq, T0 + seq
    return events


def binary_log_of(events: list, flush="event") -> bytes:
    """``events`` (run_started first, clocks given) as the compiled recorder logs them."""
    forced = os.environ.pop("SPECVIZ_RECORDER", None)
    try:
        with tempfile.TemporaryDirectory() as d:
            rec = open_run(d, msgspec.structs.replace(events[0]), flush=flush)
            for ev in events[1:]:
                rec.log(msgspec.structs.replace(ev))
            rec.flush()
            data = rec._writer.path.read_bytes()
            rec._recorder.close()
            rec._writer.remove()
    finally:
        if forced is not None:
            os.environ["SPECVIZ_RECORDER"] = forced
    assert data.startswith(binlog.MAGIC), "the compiled recorder wrote this log"
    return data


def frame_ends(data: bytes) -> tuple[int, list[int]]:
    """Where a well-formed binary log's header ends, and where each of its frames ends."""
    pos = head = len(binlog.MAGIC) + 4 + int.from_bytes(data[len(binlog.MAGIC):len(binlog.MAGIC) + 4], "little")
    ends = []
    while pos + 4 <= len(data):
        pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
        ends.append(pos)
    return head, ends


def _keep(good: bytes, damage_at: int, per_frame: list[int]) -> int:
    """Events in the whole frames of ``good`` that end at or before byte ``damage_at``."""
    _, ends = frame_ends(good)
    return sum(n for end, n in zip(ends, per_frame) if end <= damage_at)


def _u32(n: int) -> bytes:
    return (n % 2**32).to_bytes(4, "little")


def binary_log_sweep(full: bool = False, seed: int = 41) -> list[LogCase]:
    """Damaged copies of one binary log (``odd_run``, a frame per event): cut at every
    byte of its header and first frames and at random bytes later, bits flipped, frame
    lengths made huge, negative (as int32), short, long or zero, the magic and version
    changed, another run's frames spliced in, JSON lines before or after binary frames,
    non-UTF-8 text, out-of-range clocks, empty files. ``full`` cuts at every byte of the
    whole log and flips 2,000 bits; otherwise a deterministic sample (a few hundred)."""
    events = odd_run()
    good = binary_log_of(events)
    head, ends = frame_ends(good)
    per_frame = [1] * len(ends)  # flush="event"
    assert len(ends) == len(events)
    rng = random.Random(seed)
    out = [LogCase("empty", b"", 0), LogCase("whole", good, len(events))]
    first = ends[2]  # header and the first three frames: every byte
    cuts = range(len(good)) if full else [*range(0, head, 7), *range(head - 8, first), *rng.sample(range(first, len(good)), 60)]
    out += [LogCase(f"cut-{c}", good[:c], _keep(good, c, per_frame)) for c in sorted(set(cuts))]
    for i in range(2000 if full else 150):
        data = bytearray(good)
        pos = rng.randrange(len(data)) if i % 3 else rng.randrange(head, len(data))
        data[pos] ^= 1 << rng.randrange(8)
        out.append(LogCase(f"flip-{i}-at-{pos}", bytes(data), _keep(good, pos, per_frame)))
    starts = [head, *ends[:-1]]
    for f in (0, 1, 2, len(starts) // 2, len(starts) - 1):
        at, n = starts[f], ends[f] - starts[f] - 4
        for label, length in {"huge": 2**32 - 1, "negative": -1, "int32-min": -(2**31), "2GB": 2**31, "zero": 0,
                              "short": n - 1, "long": n + 1, "next-too": n + 4 + (ends[f + 1] - ends[f] if f + 1 < len(ends) else 0)}.items():
            out.append(LogCase(f"frame{f}-length-{label}", good[:at] + _u32(length) + good[at + 4:], _keep(good, at, per_frame)))
    m = len(binlog.MAGIC)
    for label, magic in {"version-0": binlog.MAGIC[:-1] + b"\x00", "version-2": binlog.MAGIC[:-1] + b"\x02",
                         "version-255": binlog.MAGIC[:-1] + b"\xff", "magic-lower": binlog.MAGIC.lower(),
                         "magic-S-only": b"S" + b"\x00" * (m - 1)}.items():
        out.append(LogCase(f"magic-{label}", magic + good[m:], 0))
    out += [LogCase("header-length-huge", good[:m] + _u32(2**32 - 1) + good[m + 4:], 0),
            LogCase("header-length-zero", good[:m] + _u32(0) + good[m + 4:], 0),
            LogCase("header-not-json", good[:m + 4] + b"\xff" * (head - m - 4) + good[head:], 0),
            LogCase("header-empty-kinds", binlog.header([]) + good[head:], 0),
            LogCase("magic-only", binlog.MAGIC, 0),
            LogCase("header-only", good[:head], 0),
            LogCase("header-twice", good[:head] + good, 0)]
    out += _spliced(good, events, per_frame)
    return out


def _spliced(good: bytes, events: list, per_frame: list[int]) -> list[LogCase]:
    """Another run's frames, JSON lines and binary frames in one file, values no reader
    can take (non-UTF-8 text, clocks out of any date's range)."""
    head, ends = frame_ends(good)
    other = [msgspec.structs.replace(ev, token_text="OTHER") if hasattr(ev, "token_text") else ev for ev in events]
    other_log = binary_log_of(other)
    _, other_ends = frame_ends(other_log)
    json_log = b"".join(log_lines())
    n3 = sum(per_frame[:3])
    out = [
        # Another run's frames from seq 3 on follow ours seamlessly (frames do not name
        # their run); from seq 0 on they break the sequence: cut there.
        LogCase("other-run-frames-continue", good[:ends[2]] + other_log[other_ends[2]:], n3),
        LogCase("other-run-frames-restart", good[:ends[2]] + other_log[head:], n3),
        LogCase("other-run-whole-log-appended", good + other_log, len(events)),
        LogCase("frame-repeated", good[:ends[2]] + good[ends[1]:ends[2]] + good[ends[2]:], n3),
        LogCase("json-then-binary", json_log + good, 13),
        LogCase("json-then-binary-frames", json_log + good[head:], 13),
        LogCase("binary-then-json", good + json_log, len(events)),
        LogCase("binary-then-json-line", good[:ends[2]] + log_lines()[1], n3),
    ]
    # A list value nested 100,000 deep (msgspec: RecursionError), in event 13's frame
    deep_at = len(events) - 7  # the first odd draft token: top=[TopToken(0, "t", nan)]
    frame_start = ends[deep_at - 1]
    top = msgspec.msgpack.encode(events[deep_at].top)
    at = good.index(_u32(len(top)) + top, frame_start)
    deep = b"\x91" * 100_000 + b"\x90"
    frame = good[frame_start + 4:at] + _u32(len(deep)) + deep + good[at + 4 + len(top):ends[deep_at]]
    out.append(LogCase("list-nested-100000-deep", good[:frame_start] + _u32(len(frame)) + frame + good[ends[deep_at]:], deep_at))
    lines = log_lines()
    out.append(LogCase("json-line-nested-100000-deep", lines[0] + b"[" * 100_000 + b"]" * 100_000 + b"\n" + lines[1], 1))
    out.append(LogCase("json-first-line-nested-100000-deep", b"[" * 100_000 + b"]" * 100_000 + b"\n" + lines[1], 0))
    # Non-UTF-8 text where a string's bytes are (the first event's prompt)
    prompt = events[0].prompt.encode()
    at = good.index(prompt, head)
    out.append(LogCase("text-not-utf8", good[:at] + b"\xff\xfe" + good[at + 2:], 0))
    at = good.index(b"\xc3\xa9", head)  # é in a later frame
    out.append(LogCase("text-utf8-torn", good[:at] + b"\xc3\x28" + good[at + 2:], _keep(good, at, per_frame)))
    for label, wall in {"int64-max": 2**63 - 1, "int64-min": -(2**63), "negative": -1, "2^62": 2**62}.items():
        # A run whose start is no date cannot be published (its partition is its date):
        # recovery says so and leaves the log where it is.
        # (open_run refuses such a start, so the clock is put into the log's first frame.)
        changed = [msgspec.structs.replace(events[0], t_wall_ns=wall), *events[1:]]
        keep = len(events) if 0 <= wall <= 2**63 - 1 else 0
        at = good.index(T0.to_bytes(8, "little"), head, ends[0])
        data = good[:at] + wall.to_bytes(8, "little", signed=True) + good[at + 8:]
        out.append(LogCase(f"started-clock-{label}", data, keep, tuple(changed)))
    changed = [*events[:5], msgspec.structs.replace(events[5], t_wall_ns=2**63 - 1, t_mono_ns=-(2**63)), *events[6:]]
    out.append(LogCase("event-clock-int64-extremes", binary_log_of(changed), len(events), tuple(changed)))
    return out


# ---- top-k lists a caller may hand the recorder (tests/test_recorder_paths.py holds the
# compiled and pure-Python recorders to the same verdict and the same files for each) ----


class _IntId(int):
    pass


class _Text(str):
    pass


class _Logprob(float):
    pass


class _IntEnum(enum.IntEnum):
    A = 3


class _StrEnum(str, enum.Enum):
    A = "x"


class _Plain(enum.Enum):
    INT = 3
    STR = "x"
    FLOAT = 1.5


class _TopSub(TopToken):
    pass


def hostile_top_lists() -> dict[str, list]:
    """Values for a top-k field (list[TopToken]), by what is odd about them. TopToken does
    not check its values, so each of its slots can hold anything."""
    nan, inf = float("nan"), float("inf")
    t = lambda id=1, text="a", logprob=-0.5: TopToken(id, text, logprob)  # noqa: E731
    ok = [t(2, "b", -1.0), t(3, "c", -2.0)]
    return {
        "id-bool": [t(id=True)], "id-float": [t(id=1.0)], "id-str": [t(id="1")], "id-none": [t(id=None)],
        "id-int64-max": [t(id=2**63 - 1)], "id-int64-min": [t(id=-(2**63))], "id-2^63": [t(id=2**63)],
        "id-2^64-1": [t(id=2**64 - 1)], "id-2^64": [t(id=2**64)], "id-below-int64": [t(id=-(2**63) - 1)],
        "id-int-subclass": [t(id=_IntId(4))], "id-int-enum": [t(id=_IntEnum.A)], "id-plain-enum": [t(id=_Plain.INT)],
        "text-str-subclass": [t(text=_Text("b"))], "text-str-enum": [t(text=_StrEnum.A)], "text-plain-enum": [t(text=_Plain.STR)],
        "text-bytes": [t(text=b"x")], "text-none": [t(text=None)], "text-int": [t(text=3)], "text-surrogate": [t(text="\udfff")],
        "text-surrogate-pair-halves": [t(text="\ud83d\ude00")], "text-nul-and-controls": [t(text="\x00\x1b[31m\u2028")],
        "text-empty": [t(text="")], "text-long": [t(text="é" * 1_500_000)],
        "logprob-nan-inf": [t(logprob=nan), t(logprob=inf), t(logprob=-inf), t(logprob=-0.0)],
        "logprob-int": [t(logprob=3)], "logprob-2^53": [t(logprob=2**53), t(logprob=-(2**53))],
        "logprob-2^53+1": [t(logprob=2**53 + 1)], "logprob-below--2^53": [t(logprob=-(2**53) - 1)],
        "logprob-2^63": [t(logprob=2**63)], "logprob-2^64": [t(logprob=2**64)], "logprob-10^400": [t(logprob=10**400)],
        "logprob-bool": [t(logprob=True)], "logprob-float-subclass": [t(logprob=_Logprob(2.5))],
        "logprob-int-enum": [t(logprob=_IntEnum.A)], "logprob-plain-enum": [t(logprob=_Plain.FLOAT)],
        "logprob-str": [t(logprob="1")], "logprob-none": [t(logprob=None)],
        "bad-after-good": [*ok, t(id="x")], "good-after-plain-enum": [t(text=_Plain.STR), *ok],
        "item-none": [None], "item-tuple": [(1, "a", 0.5)], "item-list": [[1, "a", 0.5]], "item-int": [1],
        "item-subclass": [_TopSub(1, "a", 0.5)], "item-dict": [{"id": 1, "text": "a", "logprob": 0.5}],
        "tuple-of-tokens": tuple(ok), "empty-tuple": (), "list-subclass": type("Tops", (list,), {})(ok),
        "empty-list-subclass": type("Tops", (list,), {})(), "set-of-tokens": {t(7, "s", -1.0)}, "frozenset": frozenset(ok[:1]),
        "dict": {1: 2}, "empty-dict": {}, "empty-set": set(), "str": "abc", "bytes": b"\x93\x01\xa1a\xcb", "none": None, "int": 5,
        "nested-list": [ok], "many-tokens": [t(i, f"w{i % 97}", -i / 7) for i in range(200_000)],
        "one-of-everything-ok": [t(2**63 - 1, "é中😀", nan), t(-(2**63), "", -inf), t(_IntEnum.A, _StrEnum.A, 3)],
    }
