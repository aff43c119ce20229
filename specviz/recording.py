"""Recording API: log a run's events durably, then publish them as one Parquet trace.

    from specviz.recording import open_run
    from specviz.events import RunStarted, DraftToken, RunFinished

    with open_run("traces", RunStarted(prompt="Hi", k=4, temperature=0.7)) as rec:
        rec.log(DraftToken(round=0, position=0, token_id=42, token_text=" the"))
        ...
        path = rec.finish(RunFinished(status="completed", finish_reason="eos"))

``open_run(traces, started, *, flush="round", fsync=False) -> Recording``
    Creates ``traces/_live/run-<id>.jsonl`` (locked by this process) and logs ``started``
    as event 0, flushed at once so listings show the live run with its configuration.
    flush: "event" (every event), "round" (default: whenever a round_metrics,
    run_finished or error event is logged), an int N (every N events) or "close"
    (only at finish). Every policy writes at least every 100,000 events.
    Flushed means handed to the OS: it survives the process being killed. fsync=True
    also forces it to disk at every flush, for power loss, at a cost per flush.
``Recording.run_id``      16 hex chars; commands accept any unique prefix.
``Recording.log(event)``  fills run_id, seq (gap-free from 0) and, when 0, t_mono_ns and
                          t_wall_ns; appends to the log; returns the event.
``Recording.flush()``     writes buffered events to the log now.
``Recording.finish(finished) -> Path``
    a ``finished`` without counts (rounds, drafted, tested, accepted, produced all 0) gets
    every total it leaves at its default computed from the logged events, as the engine
    computes them (``specviz.totals``); then logs run_finished, writes the column buffers
    (filled by every log()) to ``traces/date=YYYY-MM-DD/run-<id>.parquet``
    (published by atomic rename) and removes the log.
Leaving the ``with`` block without finish(): KeyboardInterrupt finishes the run as
``interrupted``; another exception logs an ``error`` event (where="recording") and
finishes it as ``failed``; a normal exit finishes it as ``completed`` with totals computed
from the events. The exception is re-raised. A process killed outright leaves its log;
``specviz recover`` (or any listing of the directory) publishes it as ``interrupted``.

Speed: ``log()`` is compiled C (``specviz/store/_recorder.c``: the stamping, the column
buffers, the binary log and the flush policy) when the package was built with a C
compiler, else ``specviz.store.pyrecorder``, which checks the same values and records
the same files (``specviz.store.hotpath``). Every ``CHUNK`` events the buffers are handed to a background
thread that encodes them as one Parquet row group (``specviz.store.chunked``), so
``finish()`` is left with the last chunk and the footer.

``NullRecording`` has the same API and writes nothing (benchmarks with recording off).
Errors are ``specviz.store.TraceError`` with a one-line message.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path
from typing import Literal

import pyarrow as pa

from specviz.events import Error, Event, RunFinished, RunStarted
from specviz.store.chunked import CHUNK, ChunkedParquet
from specviz.store.columnar import chunk_table, compiled_arrays, python_arrays
from specviz.store.compact import compact_after
from specviz.store.hotpath import new_recorder, recording_path
from specviz.store.layout import TraceError, check_run_id, check_wall_ns, new_run_id, parquet_path, writable_traces
from specviz.store.livelog import LogWriter, read_log
from specviz.store.parquet_file import gc_paused, kv_metadata, run_entry, wall_offset_of
from specviz.totals import finished_from_events

FlushPolicy = Literal["event", "round", "close"] | int

_MAX_PENDING = 100_000


_warmed = threading.Event()


def _warm_up_arrow() -> None:
    # pyarrow imports pandas on its first Python-to-Arrow conversion; without cached
    # bytecode that is seconds, which would land in finish(). Pay it in the background
    # while the run is generating, once per process.
    if not _warmed.is_set():
        _warmed.set()
        threading.Thread(target=pa.array, args=([0],), name="specviz-warm-up", daemon=True).start()


class Recording:
    """One run being recorded. Create it with `open_run`."""

    def __init__(self, traces: str | os.PathLike, started: RunStarted, *, flush: FlushPolicy = "round", fsync: bool = False):
        if not isinstance(started, RunStarted):
            raise TraceError("a recording starts with a RunStarted event")
        if flush not in ("event", "round", "close") and not (isinstance(flush, int) and flush > 0):
            raise TraceError(f"flush policy must be 'event', 'round', 'close' or a positive int, not {flush!r}")
        if started.t_wall_ns:  # given: it must name a date (the run's partition), as at finish()
            check_wall_ns(started.t_wall_ns, "run_started t_wall_ns")
        self.traces = writable_traces(traces)
        self.run_id = new_run_id()
        self.started = started
        self.finished: RunFinished | None = None
        self.path: Path | None = None
        self.compacted = None  # the store.compact.CompactReport if finish() packed older runs
        # "close" (and "round" without rounds) still writes every _MAX_PENDING events, so
        # what a crash can lose stays bounded.
        every = flush if isinstance(flush, int) else _MAX_PENDING
        mono = time.monotonic_ns()
        # One clock read per event: wall time is the monotonic clock shifted to the epoch,
        # and the Parquet file stores only this one offset (the run's wall-clock anchor).
        self._wall_offset = time.time_ns() - mono
        self._writer = LogWriter(traces, self.run_id, fsync=fsync)
        self._sink: ChunkedParquet | None = None  # started by the first full chunk
        # Every event goes into its kind's column buffers at once (finish() writes them
        # without a per-event transpose) and into the log's next frame; the log is read
        # back only after a crash or an exception.
        self._recorder = new_recorder(self.run_id, self._writer, policy=flush, every=every, fsync=fsync,
                                      wall_offset=self._wall_offset, chunk=CHUNK, on_chunk=self._on_chunk)
        self._arrays = compiled_arrays if recording_path() == "compiled" else python_arrays
        # The recorder's methods themselves: no Python frame of ours per event.
        self.log = self._recorder.log  # type: ignore[method-assign]
        self.flush = self._recorder.flush  # type: ignore[method-assign]
        _warm_up_arrow()
        try:
            self.log(started)
            self._final()  # a derived wall clock (t_mono_ns given) must name a date too
            self.flush()
        except BaseException:
            self._writer.remove()  # a run that never started leaves no log behind (disk full, Ctrl-C)
            raise

    def log(self, event: Event) -> Event:
        """Stamp, check and record one event; see the module docstring."""
        return self._recorder.log(event)

    def flush(self) -> None:
        """Write the events logged since the last flush to the log, as one frame."""
        self._recorder.flush()

    def finish(self, finished: RunFinished) -> Path:
        """Log run_finished, publish the run as Parquet, remove the log; returns the file."""
        if self.finished is not None:
            raise TraceError(f"run {self.run_id} is already finished")
        if not isinstance(finished, RunFinished):
            raise TraceError("finish() takes a RunFinished event")
        if not (finished.rounds or finished.drafted or finished.tested or finished.accepted or finished.produced):
            self.flush()  # a rare path (the engine always gives counts): the events are in the log
            finished = _with_totals(finished, read_log(self._writer.path)[0])
        self.log(finished)
        self.flush()
        self.finished = finished
        check_run_id(self.started.run_id)
        sink = self._sink or ChunkedParquet(self._final())
        # On failure the log stays, locked until this process exits, then recoverable.
        self.path = sink.finish(self._chunk_table(), kv_metadata([run_entry(self.started, finished)]))
        self._recorder.close()
        self._writer.remove()
        self.log = self._log_after_finish  # type: ignore[method-assign]  # no check on the hot path
        self.compacted = compact_after(self.traces, self.path)
        return self.path

    def _final(self) -> Path:
        return parquet_path(self.traces, self.run_id, self.started.t_wall_ns)

    def _on_chunk(self) -> None:
        """CHUNK more events: their table is built and encoded in the background."""
        if self._sink is None:
            self._sink = ChunkedParquet(self._final())
            weakref.finalize(self, self._sink.abort)  # dropped without finish(): no thread left behind
        self._sink.add(self._chunk_table())

    def _chunk_table(self) -> pa.Table:
        """The events since the last chunk as a table; the buffers start over."""
        wall = wall_offset_of(self.started)
        with gc_paused():
            return chunk_table(self._recorder.take(), self._arrays, self.run_id, wall)

    def _log_after_finish(self, event: Event) -> Event:
        raise TraceError(f"run {self.run_id} is already finished")

    def _finish_from_events(self, status: str, reason: str) -> Path:
        # A rare path (an exception or Ctrl-C inside the with block): the totals come
        # from the events, which after a flush are all in the log.
        self.flush()
        events, _ = read_log(self._writer.path)
        return self.finish(finished_from_events(events, status=status, finish_reason=reason))

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.finished is not None:
            return None
        if exc_type is None:
            self._finish_from_events("completed", "closed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self._finish_from_events("interrupted", "interrupted")
        else:
            message = f"{exc_type.__name__}: {exc}".strip().rstrip(":")
            self.log(Error(where="recording", message=message))
            self._finish_from_events("failed", "error")
        return None


_TOTALS = tuple(f for f in RunFinished.__struct_fields__ if f not in Event.__struct_fields__ + ("status", "finish_reason"))


def _with_totals(finished: RunFinished, events: list[Event]) -> RunFinished:
    """``finished`` with every total the caller left at its default computed from the
    logged events, exactly as the engine computes them (``specviz.totals``)."""
    computed = finished_from_events(events, status=finished.status, finish_reason=finished.finish_reason)
    defaults = RunFinished(status=finished.status)
    for name in _TOTALS:
        if getattr(finished, name) == getattr(defaults, name):
            setattr(finished, name, getattr(computed, name))
    return finished


def open_run(traces: str | os.PathLike, started: RunStarted, *, flush: FlushPolicy = "round", fsync: bool = False) -> Recording:
    """Start recording a run into ``traces``; see the module docstring."""
    return Recording(traces, started, flush=flush, fsync=fsync)


class NullRecording:
    """The Recording API doing no I/O: fills run_id and seq, keeps nothing."""

    def __init__(self, traces: str | os.PathLike | None = None, started: RunStarted | None = None, **_: object):
        self.run_id = new_run_id()
        self.started = started
        self.finished: RunFinished | None = None
        self.path: Path | None = None
        self._seq = 0
        if started is not None:
            self.log(started)

    def log(self, event: Event) -> Event:
        event.run_id = self.run_id
        event.seq = self._seq
        self._seq += 1
        return event

    def flush(self) -> None:
        pass

    def finish(self, finished: RunFinished) -> None:
        self.finished = self.log(finished)
        return None

    def __enter__(self) -> "NullRecording":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        return None


__all__ = ["open_run", "Recording", "NullRecording", "FlushPolicy", "TraceError"]
