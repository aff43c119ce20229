"""Where things live in a trace directory.

    traces/
      date=2026-11-23/run-3fa2c1d09be4a771.parquet   finished runs, one self-contained file each
      _live/run-3fa2c1d09be4a771.jsonl               runs being recorded (or left by a crash)

Hive-style ``date=`` partitions let DuckDB, Polars, pandas and Spark read the tree
directly; ``_live`` starts with an underscore so Hive readers skip it. Writers never
share a file: each run has its own log and its own Parquet file, published by rename.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from pathlib import Path

from specviz.errors import SpecvizError

LIVE_DIR = "_live"
RUN_ID_RE = re.compile(r"^[0-9a-f]{4,64}$")
PARQUET_GLOB = "date=*/run-*.parquet"
LOG_GLOB = "run-*.jsonl"


class TraceError(SpecvizError):
    """A problem with a trace or trace directory, worded for the person who asked."""


def new_run_id() -> str:
    return secrets.token_hex(8)


def check_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id):
        raise TraceError(f"bad run id {run_id!r}: expected hex digits")
    return run_id


def live_dir(traces: str | os.PathLike) -> Path:
    return Path(traces) / LIVE_DIR


def log_path(traces: str | os.PathLike, run_id: str) -> Path:
    return live_dir(traces) / f"run-{run_id}.jsonl"


def parquet_path(traces: str | os.PathLike, run_id: str, t_wall_ns: int) -> Path:
    day = dt.datetime.fromtimestamp(t_wall_ns / 1e9, dt.timezone.utc).strftime("%Y-%m-%d")
    return Path(traces) / f"date={day}" / f"run-{run_id}.parquet"


def run_id_of(path: Path) -> str:
    return path.name.split(".", 1)[0].removeprefix("run-")


def parquet_files(traces: str | os.PathLike) -> list[Path]:
    return sorted(Path(traces).glob(PARQUET_GLOB))


def log_files(traces: str | os.PathLike) -> list[Path]:
    return sorted(live_dir(traces).glob(LOG_GLOB))


def publish(tmp: Path, final: Path) -> None:
    """Move a finished temp file into place atomically; readers never see half a file."""
    os.replace(tmp, final)


def temp_name(final: Path) -> Path:
    # A dot name outside the run-*.parquet glob, unique per process: invisible to readers.
    return final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
