"""A run's Parquet file encoded while it is still being recorded.

Every ``CHUNK`` events the recorder turns its column buffers into a table (wrapping the
compiled recorder's buffers costs a few ms) and hands it over (``add``); a background
thread writes it as one row group of a temp file beside the final path. pyarrow's
encoder releases the GIL, so on a second core the encoding overlaps with recording
instead of all landing in ``finish()``. The table is built in the recorder's thread on
purpose: every pyarrow compute call releases the GIL, and a background thread taking it
back from a thread running Python waits a switch interval (5 ms) each time. ``finish``
writes the last chunk, the footer metadata, and publishes the file by atomic rename.

A run of at most ``CHUNK`` events never starts the thread: it is written at finish as
one row group (every listing reads footers; one row group keeps them small). The live
log stays the source of truth until the rename: a crash loses only the temp file, which
``specviz recover`` cleans up (``recovery.stale_temp_files``) while it publishes the log.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
import pyarrow as pa
import pyarrow.parquet as pq

from specviz.store.columnar import SCHEMA
from specviz.store.layout import TraceError, publish, temp_name
from specviz.store.parquet_file import WRITE_OPTIONS, write_table

# 131,072 events: each row group costs bytes (its own dictionaries, delta and zstd restarts, a
# footer entry per column): +0.8 bytes/event at 65,536 on the benchmark, +0.4 here, +0.2 at
# 262,144; finish() encodes at most one chunk after the last log().
CHUNK = 131072


class ChunkedParquet:
    """Row groups written in the background as chunks arrive; see the module docstring."""

    def __init__(self, final: Path):
        self.final = final
        self.tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._error: BaseException | None = None
        # Two chunks in flight at most: a recorder faster than the encoder waits rather
        # than holding the whole run in memory twice.
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._ended = False

    def add(self, table: pa.Table) -> None:
        """Queue one chunk's table for the background thread to write."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="specviz-parquet", daemon=True)
            self._thread.start()
        self._queue.put(table)

    def _run(self) -> None:
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(table)
                except BaseException as e:  # reported by finish(), in the recorder's thread
                    self._error = e
            # Let go before waiting for the next: its buffers go back to the recorder's
            # pool (_recorder.c) for the chunk being filled.
            del table
        if self._ended:
            self._discard()  # abandoned: see abort()

    def abort(self) -> None:
        """The recording was dropped without finish(): stop the thread, remove the temp
        file (its log, not this, is what `specviz recover` publishes)."""
        if self._thread is not None and not self._ended:
            self._ended = True
            self._queue.put(None)

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = temp_name(self.final)
            self._writer = pq.ParquetWriter(self.tmp, SCHEMA, store_schema=False, **WRITE_OPTIONS)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def finish(self, table: pa.Table, kv: dict[str, str]) -> Path:
        """Write the last chunk (an empty one adds no row group once others are written)
        and the footer, publish; returns the final path."""
        if self._thread is None:
            return write_table(table, self.final, kv)
        if table.num_rows:
            self.add(table)
        self._queue.put(None)
        self._thread.join()
        self._ended = True
        try:
            if self._error is not None:
                raise self._error
            self._writer.add_key_value_metadata(kv)
            self._writer.close()
            publish(self.tmp, self.final)
        except TraceError:
            raise
        except (OSError, pa.ArrowException) as e:
            raise TraceError(f"could not write {self.final}: {getattr(e, 'strerror', None) or e}") from None
        finally:
            self._discard()
        return self.final

    def _discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass  # a failed write already said why
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


__all__ = ["CHUNK", "ChunkedParquet"]
