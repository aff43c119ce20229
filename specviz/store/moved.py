"""Where a trace file named by path went: the store moves runs between files on its own.

A path copied from `specviz runs` / `show`, a README or a shell history names one run's
file, but the store does not keep that file forever:

- a live log, ``_live/run-<id>.jsonl``, is removed once its run finishes and is
  published as ``date=D/run-<id>.parquet``;
- a run file, ``date=D/run-<id>.parquet``, is removed once a compaction (recording's
  auto compaction, or `specviz compact`) has packed it into a ``date=D/pack-*.parquet``.

Both moves publish the new file before removing the old one, and a pack holds only runs
of its own day, so a named file that is gone and a file of the same store holding its run
is that run: readers resolve the path to it (`find_moved`) and say so in one line
(`Moved.note`), showing that run alone, never a pack's other runs. Readers only: nothing
here writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from specviz.store.layout import LIVE_DIR, RUN_ID_RE, TraceError, is_pack, run_id_of


@dataclass(frozen=True)
class Moved:
    """A named run file or live log that is gone, and the file holding its run now."""

    named: Path
    now: Path  # a pack, or (for a live log) the run's published file or a pack
    run_id: str

    @property
    def note(self) -> str:
        """What to tell the person who named the file, in one line."""
        if is_pack(self.now):
            why = f"was packed into {self.now.name} (compaction)"
            if self.named.suffix == ".jsonl":
                why = f"has finished, and its run was packed into {self.now} (compaction)"
        else:
            why = f"has finished, and its run was published as {self.now}"
        return f"{self.named} {why}; reading run {self.run_id} from it"


def _day_of(path: Path) -> Path | None:
    """The ``date=`` directory of a path named exactly as a run file (``run-<id>.parquet``,
    the id as recorded: lower-case hex), else None. A bare name (the user is in the day's
    directory) or one through ``..`` is where the system would look for it, as long as
    dropping the ``..`` leads to the same directory (no link before it)."""
    return _store_dir(path, "parquet", lambda d: d.name.startswith("date="))


def _live_of(path: Path) -> Path | None:
    """The ``_live`` directory of a path named exactly as a live log (``run-<id>.jsonl``)."""
    return _store_dir(path, "jsonl", lambda d: d.name == LIVE_DIR)


def _store_dir(path: Path, suffix: str, is_it) -> Path | None:
    run_id = run_id_of(path)
    if path.name != f"run-{run_id}.{suffix}" or not RUN_ID_RE.match(run_id):
        return None
    where = path.parent
    if not is_it(where):
        plain = Path(os.path.normpath(where.absolute()))
        try:
            where = plain if os.path.realpath(where) == os.path.realpath(plain) else where
        except (OSError, ValueError):
            return None
    return where if is_it(where) else None


def _listed_holding(run_id: str, files: list[Path], root: Path) -> Path | None:
    """The first of ``files`` (packs, or the run's own file) that a listing of ``root``
    would list the run from; None if none would."""
    from specviz.store.catalog import _check_place, inspect_cached, run_summaries  # the listing's own

    for f in files:
        try:
            tf = inspect_cached(f, root)
            # One `_check_place` refuses (a hand-placed copy, a pack seen through a link
            # to another day) is not the one the store wrote.
            _check_place(tf, run_summaries(tf), root)
        except (TraceError, OSError):  # a bad file is `specviz runs --problems`' to report
            continue
        if run_id in tf.run_ids:
            return f
    return None


def _packs(days: list[Path]) -> list[Path]:
    return [pack for day in days for pack in sorted(day.glob("pack-*.parquet")) if is_pack(pack)]


def find_moved(path: str | os.PathLike) -> Moved | None:
    """Where the run of a gone run file or live log is now; None for a path that exists,
    that names no run file of a store, or whose run no file of the store holds."""
    path = Path(path)
    if os.path.lexists(path):
        return None
    day, live = _day_of(path), _live_of(path)
    run_id = run_id_of(path)
    if day is not None:
        now = _listed_holding(run_id, _packs([day]), day.parent)
    elif live is not None:
        # Its published file; or, published and packed since, a pack (its day is not known
        # without the log: newest days first).
        root = live.parent
        now = _listed_holding(run_id, sorted(root.glob(f"date=*/run-{run_id}.parquet"))
                              + _packs(sorted(root.glob("date=*"), reverse=True)), root)
    else:
        return None
    return Moved(path, now, run_id) if now else None


def moved_notes(sources: list[str | os.PathLike]) -> list[str]:
    """One line for each named file whose run is read from another file (`Moved.note`)."""
    found = (find_moved(src) for src in sources if not os.path.lexists(src))
    return list(dict.fromkeys(m.note for m in found if m is not None))  # a path named twice: once


def gone(path: Path) -> str:
    """Why a named file cannot be read: it is not there, nor its run anywhere it could be."""
    day, live = _day_of(path), _live_of(path)
    if day is not None:
        return f"no such file, and no pack in {day} holds run {run_id_of(path)}"
    if live is not None:
        return f"no such file, and run {run_id_of(path)} is not in {live.parent}"
    return "no such file or directory"
