"""Trace storage: reading, listing, recovering, validating, importing and exporting traces.

Recording lives in ``specviz.recording``; SQL in ``specviz.sql``. Public API:

    read_events(source, run_id=None) -> list[AnyEvent]
        source: trace dir (run_id = unique prefix; live runs read from their log),
        a Parquet trace file, or a live .jsonl log.
    list_runs(traces) -> list[RunSummary]            newest first, live runs included
    scan(traces) -> Listing                          runs + problems (bad files) + valid files; reads only
    scan_sources([dir or file, ...]) -> Listing      the same over several directories and trace files
    resolve(traces, prefix, listing=None) -> RunSummary   unique-prefix lookup
    find_moved(path) -> Moved | None                 a named run file since packed, or live log since
                                                     finished: the file holding its run now
    moved_notes([path, ...]) -> list[str]            one line per named file read from elsewhere
    read_run(summary) -> list[AnyEvent]              a listed run's events
    inspect_file(path) -> TraceFile                  validate one Parquet trace's footer, as a whole
    check_file(path, run_ids=None) -> TraceFile      ...and its runs' rows as `import` does, in one read
    recover(traces) -> RecoveryReport                publish abandoned logs as interrupted; clean temp files
    LogTail(path).poll() -> list[AnyEvent]           new events of a live log since last poll
    export_runs(traces, run_ids, out, force=False) / import_files(traces, files)
    specviz.store.compact.compact(traces)            pack each day's finished run files into a few packs
    write_output(out, data, force=False)             an export's bytes, never over a link or device
    TraceError                                       every failure, one readable line
    RECORDING_PATH                                   "compiled" (specviz/store/_recorder.c) or "python"
"""

from specviz.store.catalog import Listing, RunSummary, list_runs, read_events, read_run, resolve, scan, scan_sources
from specviz.store.footer import TraceFile, inspect_file
from specviz.store.layout import TraceError
from specviz.store.livelog import LogTail
from specviz.store.moved import Moved, find_moved, moved_notes
from specviz.store.recovery import Problem, RecoveryReport, recover
from specviz.store.transfer import ImportReport, check_file, export_runs, import_files, write_output



def __getattr__(name: str):
    # Lazy: the hot path's module loads pyarrow, which commands that only list runs skip.
    if name == "RECORDING_PATH":
        from specviz.store.hotpath import recording_path

        return recording_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RECORDING_PATH",
    "read_events",
    "list_runs",
    "scan",
    "scan_sources",
    "read_run",
    "resolve",
    "find_moved",
    "moved_notes",
    "Moved",
    "inspect_file",
    "check_file",
    "recover",
    "export_runs",
    "import_files",

    "write_output",
    "LogTail",
    "Listing",
    "RunSummary",
    "TraceFile",
    "Problem",
    "RecoveryReport",
    "ImportReport",
    "TraceError",
]
