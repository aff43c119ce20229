"""The disagreement dataset: one row per tested draft position of recorded runs, with the
exact context the engine had at that position, what the drafter proposed and what the target
said. Read through the read-only SQL views (``specviz.sql``); nothing in the traces changes.

    from specviz.dataset import select_runs, build, write_parquet
    table = build("traces", select_runs("traces", where="drafter LIKE 'layerskip%'"))
    write_parquet(table, "disagreements.parquet")

A position is *tested* when the target gave the draft token a verdict (accepted or
rejected); positions after a rejection were drafted but never tested and are not rows.
Columns are documented in README.md ("specviz dataset").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from specviz.errors import SpecvizError
from specviz.statuses import committed_sql
from specviz.store import TraceError, resolve

FORMATS = ("parquet", "jsonl")

# Committed verdicts in order are the run's output; a tested position's context is the
# prompt plus the output before it (its offset = the index of the token decided there).
_SQL = f"""
WITH sel AS (
  SELECT run_id, prompt_token_ids, drafter, target, target_model, temperature, k, adapter
  FROM runs WHERE list_contains($ids, run_id)
), committed AS (
  SELECT run_id, round, position, token_id,
         row_number() OVER (PARTITION BY run_id ORDER BY seq) - 1 AS context_offset
  FROM verifications WHERE list_contains($ids, run_id) AND {committed_sql()}
), outputs AS (
  SELECT run_id, list(token_id ORDER BY context_offset) AS output FROM committed GROUP BY run_id
)
SELECT t.run_id, t.round, t.position, c.context_offset,
       list_concat(s.prompt_token_ids, o.output[1:c.context_offset]) AS context_ids,
       t.draft_token_id, t.draft_logprob, t.draft_q, d.top AS draft_top, d.draft_source, d.ngram_n,
       t.token_id AS target_token_id, t.target_logprob, t.final_logprob, t.target_p, t.top AS target_top,
       t.target_entropy, t.acceptance_prob, t.status = 'accepted' AS accepted, t.exact,
       s.drafter, s.target, s.target_model, s.temperature, s.k, s.adapter
FROM verifications t
JOIN committed c USING (run_id, round, position)
JOIN sel s USING (run_id)
JOIN outputs o USING (run_id)
LEFT JOIN drafts d USING (run_id, round, position)
WHERE list_contains($ids, t.run_id) AND t.status IN ('accepted', 'rejected') {{extra}}
ORDER BY t.run_id, t.seq
"""


class DatasetError(SpecvizError):
    """No runs matched, a bad --where, an unwritable output."""


def select_runs(traces: str | Path, runs: Iterable[str] = (), where: str | None = None) -> list[str]:
    """Run ids from unique prefixes and/or a SQL predicate over the ``runs`` view."""
    ids = [resolve(traces, r).run_id for r in runs]
    if where:
        from specviz.sql import connect, query

        result = query(connect(traces), f"SELECT run_id FROM runs WHERE ({where}) ORDER BY started_at")
        ids += [row[0] for row in result.rows]
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise DatasetError("no runs selected: give run ids or a --where that matches some")
    return ids


def build(traces: str | Path, run_ids: list[str], *, rejected_only: bool = False) -> pa.Table:
    """The dataset of ``run_ids`` as an Arrow table (one row per tested draft position)."""
    from specviz.sql import connect

    con = connect(traces)
    sql = _SQL.replace("{extra}", "AND t.status = 'rejected'" if rejected_only else "")
    try:
        return con.sql(sql, params={"ids": run_ids}).to_arrow_table()
    except duckdb.Error as exc:
        raise TraceError(f"cannot build the dataset: {str(exc).splitlines()[0]}") from exc


def write_parquet(table: pa.Table, out: str | Path) -> Path:
    out = Path(out)
    pq.write_table(table, out)
    return out


def write_jsonl(table: pa.Table, out: str | Path, tokenizer: Any) -> Path:
    """JSONL that ``mlx_lm.lora`` reads as a text dataset: ``text`` is the context (chat
    template included, as the engine fed it) followed by the target's token, decoded with
    ``tokenizer``; the ids and verdict ride along for traceability (mlx_lm ignores them)."""
    from specviz.models.tokenizer import hf_tokenizer

    hf = hf_tokenizer(tokenizer)
    out = Path(out)
    with out.open("w", encoding="utf-8") as fh:
        for row in table.select(["run_id", "round", "position", "context_ids", "draft_token_id", "target_token_id",
                                 "accepted"]).to_pylist():
            text = hf.decode(row["context_ids"] + [row["target_token_id"]], skip_special_tokens=False)
            fh.write(json.dumps({"text": text, **row}, ensure_ascii=False) + "\n")
    return out


def write(table: pa.Table, out: str | Path, fmt: str | None = None, tokenizer: Any = None) -> Path:
    """Write ``table`` as ``fmt`` (from the suffix when None: .jsonl -> jsonl, else parquet)."""
    fmt = fmt or ("jsonl" if str(out).endswith(".jsonl") else "parquet")
    if fmt not in FORMATS:
        raise DatasetError(f"unknown dataset format {fmt!r}: use {' or '.join(FORMATS)}")
    try:
        if fmt == "jsonl":
            return write_jsonl(table, out, tokenizer)
        return write_parquet(table, out)
    except OSError as exc:
        raise DatasetError(f"cannot write {out}: {exc.strerror or exc}") from exc


def read(path: str | Path) -> pa.Table:
    """A dataset written by ``write`` in Parquet (``specviz adapt --dataset``)."""
    try:
        return pq.read_table(path)
    except Exception as exc:
        raise DatasetError(f"cannot read dataset {path}: {str(exc).splitlines()[0]}") from exc


__all__ = ["select_runs", "build", "write", "write_parquet", "write_jsonl", "read", "DatasetError", "FORMATS"]
