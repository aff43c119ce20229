"""Trace storage: reading, listing, recovering, validating, importing and exporting traces.

Recording lives in ``specviz.recording``; SQL in ``specviz.sql``. Public API:

    read_events(source, run_id=None) -> list[AnyEvent]
        source: trace dir (run_id = unique prefix; live runs read from their log),
        a Parquet trace file, or a live .jsonl log.
    list_runs(traces) -> list[RunSummary]            newest first, live runs included
    scan(traces, *, recover_logs=True) -> Listing    runs + problems (bad files) + valid files
    resolve(traces, prefix) -> RunSummary            unique-prefix lookup
    inspect_file(path) -> TraceFile                  validate one Parquet trace's footer
    recover(traces) -> RecoveryReport                publish abandoned logs as interrupted
    LogTail(path).poll() -> list[AnyEvent]           new events of a live log since last poll
    export_runs(traces, run_ids, out) / import_files(traces, files)
    TraceError                                       every failure, one readable line
"""

from specviz.store.catalog import Listing, RunSummary, list_runs, read_events, resolve, scan
from specviz.store.layout import TraceError
from specviz.store.livelog import LogTail
from specviz.store.parquet_file import TraceFile, inspect_file
from specviz.store.recovery import Problem, RecoveryReport, recover
from specviz.store.transfer import ImportReport, export_runs, import_files

__all__ = [
    "read_events",
    "list_runs",
    "scan",
    "resolve",
    "inspect_file",
    "recover",
    "export_runs",
    "import_files",
    "LogTail",
    "Listing",
    "RunSummary",
    "TraceFile",
    "Problem",
    "RecoveryReport",
    "ImportReport",
    "TraceError",
]
