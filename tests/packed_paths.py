"""Hostile and confused paths to a run file a compaction packed, for
tests/test_packed_paths_hostile.py: how a path is spelled (relative, a bare name in the
day's directory, ``..``, doubled slashes), names that are almost a run file's (a prefix
of the id, one character changed to a glob character, a newline, an escape, another
case, another suffix), the day's directory as something else (a file, a FIFO, a link
loop, a link to another day or out of the store), and the pack itself damaged, doubled,
forged or missing.

Each `Case` builds its variant of a store in which run `X` was packed and returns the
path to name; ``expect`` is the run that path must open, exactly (None: the path must be
one clear error; ... : a damaged pack, where either is right).
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

IDS = ["c0ffee0000000001", "c0ffee0000000002", "c0ffee0000000003"]
X = IDS[1]
NAME = f"run-{X}.parquet"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]  # (a copy of the packed store's traces dir) -> the path to name
    expect: str | None | type(...)  # the run it opens; None: one error line; ...: either
    cwd: Callable[[Path], Path] | None = None  # where the commands run (default: the test's)
    argv: bool = True  # False: no command line can carry it (a NUL): the API and the viewer only


def day_of(traces: Path) -> Path:
    return max(d for d in traces.glob("date=2*") if not d.is_symlink())  # the day recorded (date=2000-...: a copy)


def pack_of(traces: Path) -> Path:
    (pack,) = day_of(traces).glob("pack-*.parquet")
    return pack


def _named(name: str) -> Callable[[Path], Path]:
    return lambda traces: day_of(traces) / name


def spellings() -> list[Case]:
    """The packed run file's own path, spelled as people do."""
    rel = lambda traces: Path(os.path.relpath(day_of(traces) / NAME))  # noqa: E731
    return [
        Case("absolute", _named(NAME), X),
        Case("relative", rel, X),
        Case("bare-name-in-its-day", lambda t: Path(NAME), X, cwd=day_of),
        Case("dot-slash-in-its-day", lambda t: Path(f"./{NAME}"), X, cwd=day_of),
        Case("from-the-store", lambda t: Path(day_of(t).name) / NAME, X, cwd=lambda t: t),
        Case("dotdot-through-its-day", lambda t: day_of(t) / ".." / day_of(t).name / NAME, X),
        Case("dotdot-from-a-sibling-day", lambda t: Path("..") / day_of(t).name / NAME, X,
             cwd=lambda t: _mkdir(t / "date=2000-01-01")),
        Case("doubled-slashes", lambda t: Path(str(day_of(t)).replace("/", "//") + "//" + NAME), X),
        Case("dot-segments", lambda t: Path(f"{t}/./{day_of(t).name}/./{NAME}"), X),
        Case("trailing-slash", lambda t: Path(f"{day_of(t)}/{NAME}/"), X),
        Case("another-packed-run", _named(f"run-{IDS[0]}.parquet"), IDS[0]),
        Case("dotdot-through-a-sub-directory", lambda t: _mkdir(day_of(t) / "sub") / ".." / NAME, X),
        # The system follows the link, then `..`: another directory than the day's
        Case("dotdot-through-a-link", lambda t: _linked(day_of(t) / "away", t.parent) / ".." / NAME, None),
    ]


def _linked(link: Path, to: Path) -> Path:
    link.symlink_to(to, target_is_directory=True)
    return link


def _mkdir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


_ODD = ["g", "G", "x", " ", "*", "?", "[", "]", "\n", "\t", "\x1b", "\x7f", "\u00e9", "\uff43", "-", "."]


def names() -> list[Case]:
    """Names that are not exactly a packed run file's: never a run, one error line."""
    out = [Case(f"id-prefix-{k}", _named(f"run-{X[:k]}.parquet"), None) for k in range(0, 16)]
    out += [Case(f"id-longer-{k}", _named(f"run-{X}{'0' * k}.parquet"), None) for k in (1, 2, 8, 48, 49, 250)]
    for i in range(len(X)):
        for j, ch in enumerate(_ODD + [X[i].upper()]):
            if ch != X[i]:
                out.append(Case(f"id-char-{i}-{j}", _named(f"run-{X[:i]}{ch}{X[i + 1:]}.parquet"), None))
        out.append(Case(f"id-nul-{i}", _named(f"run-{X[:i]}\x00{X[i + 1:]}.parquet"), None, argv=False))
    out += [Case(f"id-glob-{i}", _named(f"run-{g}.parquet"), None)
            for i, g in enumerate(["*", "c0ffee*", "c0ffee000000000?", "c0ffee000000000[0-9]", "**", "{c0ffee0000000002}"])]
    suffixes = [".x.parquet", ".parquet.parquet", ".PARQUET", ".Parquet", ".parquet~", ".parq", ".parquet.tmp",
                ".parquet ", ".parquet\n"]
    out += [Case(f"suffix-{i}", _named(f"run-{X}{s}"), None) for i, s in enumerate(suffixes)]
    prefixes = ["Run-", "RUN-", "run_", "run--", ".run-", "pack-", "runs-", " run-", "run-0x", "\x1b[31mrun-"]
    out += [Case(f"prefix-{i}", _named(f"{p}{X}.parquet"), None) for i, p in enumerate(prefixes)]
    out += [Case(f"unknown-{i}", _named(f"run-{r}.parquet"), None)
            for i, r in enumerate(["deadbeef00000000", "0000", "f" * 64, "c0ffee0000000004", X[::-1]])]
    return out


def _day_as(kind: str) -> Callable[[Path], Path]:
    """The named run file's day directory replaced (its pack kept in the real day)."""

    def build(traces: Path) -> Path:
        real = day_of(traces)
        d = traces / "date=1999-12-31"
        if kind == "missing":
            pass
        elif kind == "file":
            d.write_bytes(b"x")
        elif kind == "fifo":
            os.mkfifo(d)
        elif kind == "loop":
            d.symlink_to(d.name)
        elif kind == "dangling":
            d.symlink_to("nowhere")
        elif kind == "link-to-its-day":  # the pack's runs are not of this day: not what a compaction wrote
            d.symlink_to(real.name)
        elif kind == "link-out":  # a copy of the store outside: never read through the named one
            outside = shutil.copytree(traces, traces.parent / "outside", symlinks=True)
            d.symlink_to(day_of(outside))
        elif kind == "empty-day":
            d.mkdir()
        return d / NAME

    return build


def days() -> list[Case]:
    out = [Case(f"day-{k}", _day_as(k), None)
           for k in ("missing", "file", "fifo", "loop", "dangling", "link-to-its-day", "link-out", "empty-day")]
    out += [
        Case("day-Date-upper", lambda t: t / day_of(t).name.replace("date", "Date") / NAME, None),
        Case("day-not-a-store", lambda t: _copied_day(t, t.parent / "elsewhere" / "x"), X),
        Case("no-day-dir", lambda t: t / NAME, None),
        Case("in-live-dir", lambda t: t / "_live" / NAME, None),
        Case("day-glob-name", lambda t: t / "date=*" / NAME, None),
        Case("day-glob-name-exists", lambda t: _copied_day(t, t, "date=*"), None),
    ]
    return out


def _copied_day(traces: Path, where: Path, name: str | None = None) -> Path:
    """The pack copied into a day directory of the same name elsewhere."""
    day = _mkdir(where / (name or day_of(traces).name))
    shutil.copy(pack_of(traces), day / pack_of(traces).name)
    return day / NAME


def _pack_as(change: Callable[[Path, Path], None]) -> Callable[[Path], Path]:
    def build(traces: Path) -> Path:
        change(traces, pack_of(traces))
        return day_of(traces) / NAME

    return build


def _special(kind: str) -> Callable[[Path, Path], None]:
    def change(traces: Path, pack: Path) -> None:
        pack.unlink()
        if kind == "fifo":
            os.mkfifo(pack)
        elif kind == "dir":
            pack.mkdir()
        elif kind == "loop":
            pack.symlink_to(pack.name)
        elif kind == "link-out":
            pack.symlink_to("/etc/passwd")
        elif kind == "dangling":
            pack.symlink_to("nowhere")

    return change


def _rename(name: str) -> Callable[[Path, Path], None]:
    return lambda traces, pack: pack.rename(pack.with_name(name))


def _copy_as(name: str, where: str | None = None) -> Callable[[Path, Path], None]:
    """A second copy of the pack (a compaction killed after publishing, run again)."""
    def change(traces: Path, pack: Path) -> None:
        day = _mkdir(traces / where) if where else pack.parent
        shutil.copy(pack, day / name)

    return change


def _forged(keep_real: bool, sort_first: bool = True) -> Callable[[Path, Path], None]:
    """A pack holding run X's rows whose start was moved to another day (a hand-made copy,
    refused by every listing): never the one the named path opens."""
    def change(traces: Path, pack: Path) -> None:
        import msgspec
        import pyarrow.parquet as pq

        table, meta = pq.read_table(pack), dict(pq.read_metadata(pack).metadata)
        runs = msgspec.json.decode(meta[b"specviz.runs"])
        for r in runs:
            r["run_started"]["t_wall_ns"] = 946_684_800 * 10**9  # 2000-01-01
        meta[b"specviz.runs"] = msgspec.json.encode(runs)
        name = "pack-0000000000000000.parquet" if sort_first else "pack-ffffffffffffffff.parquet"
        pq.write_table(table.replace_schema_metadata(meta), pack.with_name(name))
        if not keep_real:
            pack.unlink()

    return change


def _both_copies(traces: Path, pack: Path) -> None:
    from specviz.store import export_runs

    export_runs(pack, [X], pack.parent / NAME)


def _without_run_x(traces: Path, pack: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from specviz.store import export_runs

    others = [r for r in IDS if r != X]
    tmp = pack.with_name("pack-1111111111111111.parquet")
    export_runs(pack, others, tmp)
    pack.unlink()
    assert X not in pc.unique(pq.read_table(tmp).column("run_id")).to_pylist()


def packs(full: bool = False, seed: int = 7) -> list[Case]:
    out = [Case(f"pack-{k}", _pack_as(_special(k)), None) for k in ("gone", "fifo", "dir", "loop", "link-out", "dangling")]
    out += [
        Case("pack-bad-name", _pack_as(_rename("pack-zz.parquet")), None),
        Case("pack-upper-name", _pack_as(_rename("pack-ABCDEF0123456789.parquet")), None),
        Case("pack-two-copies", _pack_as(_copy_as("pack-0000000000000000.parquet")), X),
        Case("pack-in-another-day-only", _pack_as(lambda t, p: (_copy_as(p.name, "date=2000-01-01")(t, p), p.unlink())), None),
        Case("pack-forged-beside-the-real-one-first", _pack_as(_forged(True, True)), X),
        Case("pack-forged-beside-the-real-one-last", _pack_as(_forged(True, False)), X),
        Case("pack-forged-alone", _pack_as(_forged(False)), None),
        Case("pack-without-run-x", _pack_as(_without_run_x), None),
        Case("run-file-and-pack", _pack_as(_both_copies), X),
    ]
    rng = random.Random(seed)
    cuts = [0, 4, 8, 100, 1000, 4000, -1, -4, -8, -12, -100, -1000]
    flips = 200 if full else 24
    out += [Case(f"pack-truncated-{c}", _pack_as(_cut(c)), None) for c in cuts]
    out += [Case(f"pack-bitflip-{i}", _pack_as(_flip(rng.random(), rng.randrange(8))), ...) for i in range(flips)]
    return out


def _cut(at: int) -> Callable[[Path, Path], None]:
    def change(traces: Path, pack: Path) -> None:
        data = pack.read_bytes()
        pack.write_bytes(data[:at] if at >= 0 else data[:len(data) + at])

    return change


def _flip(where: float, bit: int) -> Callable[[Path, Path], None]:
    def change(traces: Path, pack: Path) -> None:
        data = bytearray(pack.read_bytes())
        data[int(where * len(data))] ^= 1 << bit
        pack.write_bytes(bytes(data))

    return change


def all_cases(full: bool = False) -> list[Case]:
    return [*spellings(), *names(), *days(), *packs(full)]
