"""Where things live in a trace directory.

    traces/
      date=2026-11-23/run-3fa2c1d09be4a771.parquet   finished runs, one self-contained file each
      date=2026-11-23/pack-5d0e7b21c94a8f30.parquet  many finished runs of that day (`specviz compact`)
      _live/run-3fa2c1d09be4a771.jsonl               runs being recorded (or left by a crash)

Hive-style ``date=`` partitions let DuckDB, Polars, pandas and Spark read the tree
directly; ``_live`` starts with an underscore so Hive readers skip it. Writers never
share a file: each run has its own log and its own Parquet file, published by rename.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from specviz.errors import SpecvizError

LIVE_DIR = "_live"
RUN_ID_RE = re.compile(r"^[0-9a-f]{4,64}$")
PARQUET_GLOB = "date=*/run-*.parquet"
PACK_GLOB = "date=*/pack-*.parquet"
HADOOP_GLOB = "date=*/{run,pack}-*.parquet"  # both, for readers with Hadoop's glob (Spark)
PACK_RE = re.compile(r"^pack-[0-9a-f]{16}\.parquet$")
LOG_GLOB = "run-*.jsonl"


class TraceError(SpecvizError):
    """A problem with a trace or trace directory, worded for the person who asked."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, keep: str = "") -> str:
    """Text from a file, safe to print: control characters (ANSI escapes, and newlines
    unless kept) shown as \\xNN."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else f"\\x{ord(m.group()):02x}", text)


def one_line(e: BaseException) -> str:
    text = str(e).strip()
    return printable(text.splitlines()[0]) if text else type(e).__name__


def new_run_id() -> str:
    return secrets.token_hex(8)


def check_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id):
        raise TraceError(f"bad run id {run_id!r}: expected hex digits")
    return run_id


def names_a_file(path: str | os.PathLike) -> bool:
    """A path given as a trace file rather than a trace directory (it need not exist)."""
    path = Path(path)
    return path.is_file() or (not path.is_dir() and (os.path.lexists(path) or path.suffix in (".parquet", ".jsonl")))


def writable_traces(traces: str | os.PathLike) -> Path:
    """``traces`` as a directory to write runs into. A path named as a trace file, which
    reading commands take for ``--traces`` (often a run file a compaction has packed
    since), is refused before a directory of that name is made inside the store."""
    traces = Path(traces)
    if names_a_file(traces):
        raise TraceError(f"{printable(str(traces))} names a trace file, not a trace directory to write runs into")
    return traces


def live_dir(traces: str | os.PathLike) -> Path:
    return Path(traces) / LIVE_DIR


def log_path(traces: str | os.PathLike, run_id: str) -> Path:
    return live_dir(traces) / f"run-{run_id}.jsonl"


INT64_MAX = 2**63 - 1


def check_wall_ns(t_wall_ns: object, what: str = "t_wall_ns") -> int:
    """A wall clock a date can be made of and DuckDB can hold: int64 nanoseconds since
    1970 (so up to 2262). Any other value comes from a damaged or crafted file."""
    if type(t_wall_ns) is not int or not 0 <= t_wall_ns <= INT64_MAX:
        raise TraceError(f"{what} {t_wall_ns!r} is not a time between 1970 and 2262")
    return t_wall_ns


def parquet_path(traces: str | os.PathLike, run_id: str, t_wall_ns: int) -> Path:
    day = dt.datetime.fromtimestamp(check_wall_ns(t_wall_ns) // 10**9, dt.timezone.utc).strftime("%Y-%m-%d")
    return Path(traces) / f"date={day}" / f"run-{check_run_id(run_id)}.parquet"


def run_id_of(path: Path) -> str:
    return path.name.split(".", 1)[0].removeprefix("run-")


def parquet_files(traces: str | os.PathLike) -> list[Path]:
    """Run files, then packs: a run found in both is listed from its own file (see catalog)."""
    traces = Path(traces)
    return sorted(traces.glob(PARQUET_GLOB)) + sorted(traces.glob(PACK_GLOB))


def pack_path(partition: Path) -> Path:
    return partition / f"pack-{secrets.token_hex(8)}.parquet"


def is_pack(path: Path) -> bool:
    return bool(PACK_RE.match(path.name))


def log_files(traces: str | os.PathLike) -> list[Path]:
    return sorted(live_dir(traces).glob(LOG_GLOB))


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` (symlinks followed) stays under ``root``."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def real_path(path: str | os.PathLike) -> Path:
    """``path`` with links followed (it need not exist); a link loop on the way is one
    clear error (Python 3.11's resolve raises a bare RuntimeError for it)."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        raise TraceError(f"{printable(str(path))}: a symbolic link loop") from None


def regular_fd(path: str | os.PathLike, root: Path | None = None) -> int:
    """A read-only descriptor of ``path`` if it is a regular file (under ``root`` when given).

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer;
    fstat of the opened descriptor then refuses FIFOs, devices, sockets and
    directories, with no window between the check and the use.
    """
    path = Path(path)
    if root is not None and not inside(path, root):
        raise TraceError(f"{path}: a link leading out of {root}; not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file") from None
    except OSError as e:
        raise TraceError(f"{path}: cannot open ({e.strerror})") from None
    except ValueError:  # a NUL byte: no file has such a name (a path typed into the viewer)
        raise TraceError(f"{printable(str(path))}: no such file (a NUL byte in the name)") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise TraceError(f"{path}: {kind}, not a trace file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def open_regular(path: str | os.PathLike, root: Path | None = None) -> BinaryIO:
    """`regular_fd` as a binary file object."""
    return os.fdopen(regular_fd(path, root), "rb")


def publish(tmp: Path, final: Path) -> None:
    """Move a finished temp file into place atomically; readers never see half a file."""
    os.replace(tmp, final)


def temp_name(final: Path) -> Path:
    # A dot name outside the run-*.parquet glob, unique per process: invisible to readers.
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
