"""What the analysis reads: the selected runs' configurations (the ``runs`` table) and
their rounds as numpy columns (one scan of the ``rounds`` view).

Every per-position, per-round and cost figure is derived from the rounds' counts
(``tested > i`` means position i was decided, ``accepted > i`` that it was accepted), so
the 10-million-event case reads one narrow slice of the events, not the drafts and
verdicts themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np

from specviz.sql import query
from specviz.store.layout import TraceError

RUN_FIELDS = (
    "run_id", "status", "prompt", "drafter", "target", "target_model", "k", "k_policy", "temperature", "top_p",
    "top_k", "max_tokens", "method", "acceptance_rule", "prompt_token_ids", "output_token_ids", "eos_token_ids",
    "rounds", "drafted", "tested", "accepted", "produced", "tokens_per_s", "baseline_tokens_per_s", "speedup",
    "host", "seed",
)
# each row's index into the list $1 of run ids (a hash join on the ids)
RUN_INDEX_JOIN = "JOIN (SELECT unnest($1::VARCHAR[]) AS run_id, unnest(range(len($1))) AS idx) s USING (run_id)"
ROUND_FIELDS = ("round", "drafted", "tested", "accepted", "produced", "draft_ms", "verify_ms", "round_ms")


@dataclass
class RunInfo:
    """One row of the ``runs`` table, as the analysis needs it."""

    run_id: str
    status: str
    prompt: str
    drafter: str
    target: str
    target_model: str
    k: int
    k_policy: str
    temperature: float
    top_p: float
    top_k: int
    max_tokens: int
    method: str
    acceptance_rule: str
    prompt_token_ids: list[int]
    output_token_ids: list[int]
    eos_token_ids: list[int]
    rounds: int
    drafted: int
    tested: int
    accepted: int
    produced: int
    tokens_per_s: float | None
    baseline_tokens_per_s: float | None
    speedup: float | None
    host: str
    seed: int | None

    @property
    def greedy(self) -> bool:
        return not self.temperature

    @property
    def config(self) -> tuple:
        """Runs pooled for per-position and K statistics share all of this."""
        return (self.target, self.target_model, self.drafter, self.method, self.temperature, self.top_p, self.top_k)

    @property
    def config_label(self) -> str:
        t = "greedy" if self.greedy else f"T={self.temperature:g}"
        return f"{self.method} {self.drafter} → {self.target} {t}"


@dataclass
class Rounds:
    """Every selected round, sorted by (run, round); ``run`` indexes ``Selection.runs``."""

    run: np.ndarray
    round: np.ndarray
    drafted: np.ndarray
    tested: np.ndarray
    accepted: np.ndarray
    produced: np.ndarray
    draft_ms: np.ndarray
    verify_ms: np.ndarray
    round_ms: np.ndarray
    k: np.ndarray  # the round's chosen K (adaptive runs), -1 when not recorded

    def take(self, mask) -> "Rounds":
        """The rounds at a boolean mask, index array or slice."""
        return Rounds(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    def __len__(self) -> int:
        return int(self.run.size)


@dataclass
class Selection:
    runs: list[RunInfo]
    rounds: Rounds
    notes: list[str] = field(default_factory=list)


def select_run_ids(con: duckdb.DuckDBPyConnection, prefixes: list[str] = (), where: str | None = None) -> list[str]:
    """Run ids from unique prefixes and/or a user-written WHERE clause over ``runs``."""
    ids: list[str] = []
    for prefix in prefixes:
        rows = con.execute("SELECT run_id FROM runs WHERE starts_with(run_id, $1) ORDER BY run_id", [prefix]).fetchall()
        if not rows:
            raise TraceError(f"no run {prefix!r} in the traces")
        if len(rows) > 1:
            raise TraceError(f"run {prefix!r} is ambiguous: {', '.join(r[0] for r in rows[:5])}")
        ids.append(rows[0][0])
    if where:
        # query() refuses anything but one read-only statement, so the clause cannot
        # smuggle a second statement or a write in.
        result = query(con, f"SELECT run_id FROM runs WHERE ({where}) ORDER BY started_at, run_id")
        ids.extend(r[0] for r in result.rows)
    if not prefixes and not where:
        ids = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY started_at, run_id").fetchall()]
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]


def load(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> Selection:
    """Configurations and rounds of ``run_ids`` (in that order)."""
    runs = load_runs(con, run_ids)
    return Selection(runs, load_rounds(con, [r.run_id for r in runs]))


def load_runs(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> list[RunInfo]:
    """The configurations of ``run_ids`` found in ``runs``, in that order."""
    if not run_ids:
        raise TraceError("no runs selected")
    cols = ", ".join(f'"{c}"' for c in RUN_FIELDS)
    rows = con.execute(f"SELECT {cols} FROM runs WHERE list_contains($1, run_id)", [run_ids]).fetchall()
    by_id = {r[0]: RunInfo(*[_none_to_default(name, v) for name, v in zip(RUN_FIELDS, r)]) for r in rows}
    return [by_id[i] for i in run_ids if i in by_id]


def load_rounds(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> Rounds:
    cols = ", ".join(f'coalesce(v."{c}", 0)::{_ROUND_TYPES.get(c, "DOUBLE")} AS "{c}"' for c in ROUND_FIELDS)
    # Columns in the types numpy keeps (no copies).
    data = scan_runs(con, run_ids, f"{cols}, coalesce(v.k, -1)::BIGINT AS k", "rounds")
    rounds = Rounds(**{c: np.asarray(data[c]) for c in ("run", *ROUND_FIELDS, "k")})
    key = (rounds.run << 32) | rounds.round
    if key.size and not (key[1:] >= key[:-1]).all():  # the scan keeps file order unless threads interleave
        rounds = rounds.take(np.argsort(key, kind="stable"))
    return rounds


def scan_runs(con: duckdb.DuckDBPyConnection, run_ids: list[str], columns: str, view: str,
              where: str = "") -> dict[str, np.ndarray]:
    """``columns`` of the rows of ``view`` (alias v) that belong to ``run_ids``, as numpy
    arrays, plus ``run``: each row's index into ``run_ids``.

    Rows carry hash(run_id), not the id: a file holds one run, so its rows come back
    together and only where the hash changes is it looked up, where a join on the ids
    hashed and probed every row's string (~0.2 CPU-s per million rows). Selecting the
    whole store needs no filter at all."""
    keys = np.asarray(con.execute("SELECT list_transform($1::VARCHAR[], lambda x: hash(x))", [run_ids]).fetchone()[0],
                      dtype=np.uint64)
    whole = con.execute("SELECT count(*) FROM runs").fetchone()[0] == len(run_ids)
    conds = [c for c in (where, "" if whole else "v.run_id IN (SELECT unnest($1::VARCHAR[]))") if c]
    sql = f"SELECT hash(v.run_id) AS run_hash, {columns} FROM {view} v" + "".join(
        f" {'WHERE' if i == 0 else 'AND'} ({c})" for i, c in enumerate(conds))
    data = {name: np.asarray(col) for name, col in con.execute(sql, None if whole else [run_ids]).fetchnumpy().items()}
    h = data.pop("run_hash")
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if h.size else np.zeros(0, dtype=np.int64)
    order = np.argsort(keys)
    at = np.minimum(np.searchsorted(keys[order], h[starts]), max(len(keys) - 1, 0))
    head = np.where(keys[order][at] == h[starts], order[at], -1) if len(keys) else np.full(starts.size, -1)
    run = np.repeat(head.astype(np.int64), np.diff(np.r_[starts, h.size]))
    if np.unique(keys).size < keys.size or (run < 0).any():
        # two ids with one hash (odds ~1e-13 at 1,000 runs), or rows of a run `runs` lacks
        return _exact_scan(con, run_ids, columns, view, where)
    data["run"] = run
    return data


def _exact_scan(con: duckdb.DuckDBPyConnection, run_ids: list[str], columns: str, view: str,
                where: str) -> dict[str, np.ndarray]:
    """``scan_runs`` by a join on the ids themselves."""
    sql = f"SELECT s.idx::BIGINT AS run, {columns} FROM {view} v {RUN_INDEX_JOIN}" + (f" WHERE {where}" if where else "")
    return {name: np.asarray(col) for name, col in con.execute(sql, [run_ids]).fetchnumpy().items()}


_ROUND_TYPES = {c: "BIGINT" for c in ("round", "drafted", "tested", "accepted", "produced")}
_LIST_FIELDS = {"prompt_token_ids", "output_token_ids", "eos_token_ids"}
_INT_FIELDS = {"k", "top_k", "max_tokens", "rounds", "drafted", "tested", "accepted", "produced"}


def _none_to_default(name: str, value):
    if value is not None:
        return value
    if name in _LIST_FIELDS:
        return []
    if name in _INT_FIELDS:
        return 0
    if name in ("temperature", "top_p"):
        return 1.0 if name == "top_p" else 0.0
    if name in ("tokens_per_s", "baseline_tokens_per_s", "speedup", "seed"):
        return None
    return ""


__all__ = ["RunInfo", "Rounds", "Selection", "select_run_ids", "load", "load_runs", "load_rounds", "scan_runs"]
