"""The append-only log a run is recorded into before it becomes Parquet.

Two formats, told apart by their first byte. Both recording paths write binary frames
(``binlog.py``). Logs of earlier versions' pure-Python recorder hold one line per flush:
a JSON array of the events logged since the previous flush, as msgspec encodes them
(``jq -c '.[]'`` shows them one by one); they are read as before. Either way appends go straight to the file descriptor with
``O_APPEND``, so after a crash the file holds every flushed frame or line and at most
one torn one at the end; readers drop it. (The name stays ``run-<id>.jsonl`` for both.)

The writer holds an exclusive ``flock`` for the life of the run. The kernel drops it when
the process dies, however it dies, so "can I take the lock?" is exactly "is the writer
gone?" — recovery never touches a log another process is still writing.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import weakref
from pathlib import Path

import msgspec

from specviz.events import AnyEvent, RunStarted
from specviz.store import binlog
from specviz.store.layout import TraceError, live_dir, log_path, open_regular, regular_fd, run_id_of

_LINES = msgspec.json.Decoder(list[list[AnyEvent]])
_LINE = msgspec.json.Decoder(list[AnyEvent])
_STARTED = msgspec.json.Decoder(tuple[RunStarted])


class _HeldLog:
    """A log file this process holds the lock of (closing the descriptor releases it)."""

    path: Path
    fd: int | None

    def _hold(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        # A recording dropped without finish() must not keep its run "live" for the
        # rest of a long-lived process (a viewer, a notebook): the lock goes with it.
        self._release = weakref.finalize(self, os.close, fd)

    def remove(self) -> None:
        """Delete the log (its run is safely in Parquet), then release the lock: in that
        order, so nobody can take the lock of a log that is still there and published."""
        if self.fd is None:
            return
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            self.fd = None
            self._release()


class LogWriter(_HeldLog):
    """Owns one run's log file: created locked, appended to, removed once published."""

    def __init__(self, traces: str | os.PathLike, run_id: str, *, fsync: bool = False):
        directory = live_dir(traces)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Lock under a private name, then rename: a log is never visible unlocked,
            # so a recoverer cannot mistake a just-created log for an abandoned one.
            tmp = directory / f".run-{run_id}.{secrets.token_hex(3)}.new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as e:
            raise TraceError(f"cannot record into {directory}: {e.strerror}") from None
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._hold(log_path(traces, run_id), fd)
        os.rename(tmp, self.path)
        self.fsync = fsync

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append ``data`` whole, or not at all: on failure (disk full, I/O error) the log
        is cut back to its last complete line, so what is in it stays recoverable."""
        end = os.fstat(self.fd).st_size
        try:
            # Views released on the way out even when a write fails: a live export of the
            # caller's buffer would make its next resize fail ("Existing exports of data").
            with memoryview(data) as whole:
                done = 0
                while done < len(whole):
                    with whole[done:] as rest:
                        done += os.write(self.fd, rest)
            if self.fsync:
                os.fsync(self.fd)
        except OSError as e:
            try:
                os.ftruncate(self.fd, end)
            except OSError:
                pass  # the torn line is dropped by recovery instead
            raise TraceError(f"cannot write the trace log {self.path}: {e.strerror or e}") from None



def decode_log(data: bytes, run_id: str) -> tuple[list, bool]:
    """Events in a log's bytes, and whether anything at the end had to be dropped.

    Each line (binary: frame) is one flush. Only the last one can be torn (appends are
    sequential); everything before the first undecodable one is kept.
    """
    if data.startswith(binlog.MAGIC[:1]):
        return binlog.decode(data, run_id)
    body, _, tail = data.rpartition(b"\n")
    torn = bool(tail.strip())
    events: list = []
    if body:
        try:
            for batch in _LINES.decode(b"[" + body.replace(b"\n", b",") + b"]"):
                events.extend(batch)
        except msgspec.DecodeError:
            events = []
            for line in body.split(b"\n"):
                try:
                    events.extend(_LINE.decode(line))
                except msgspec.DecodeError:
                    torn = True
                    break
    for ev in events:
        ev.run_id = run_id
    return events, torn


def read_started(path: Path, root: Path | None = None, limit: int = 64 << 20):
    """A live log's first event (run_started, flushed alone by open_run) without reading
    the rest; None while nothing is flushed yet. TraceError if that is not a specviz log."""
    with open_regular(path, root) as f:
        data = f.read(len(binlog.MAGIC))
        if data.startswith(binlog.MAGIC[:1]):
            started = _binary_started(f, data, path, limit)
        else:
            started = _json_started(f.readline(limit), data, limit, path)
    if started is None:
        return None
    if not isinstance(started, RunStarted):
        raise TraceError(f"{path}: unreadable live log (it does not start with run_started)")
    started.run_id = run_id_of(path)
    return started


def _binary_started(f, data: bytes, path: Path, limit: int):
    reader = binlog.BinaryLogReader(run_id_of(path))
    size = 1 << 16
    while True:
        more = f.read(size)
        data += more
        events, _ = reader.feed(data, frames=1)
        if events or reader.damaged or not more or len(data) >= limit:
            break
        size *= 2
    if reader.damaged or (not events and len(data) >= limit):
        raise TraceError(f"{path}: unreadable live log (not a specviz binary log)")
    return events[0] if events else None


def _json_started(line: bytes, first: bytes, limit: int, path: Path):
    line = first + line
    if not line.endswith(b"\n"):
        if len(line) >= limit:
            raise TraceError(f"{path}: not a specviz log (no line break in its first {limit >> 20} MB)")
        return None  # not even the config is flushed yet
    try:
        (started,) = _STARTED.decode(line)
    except msgspec.DecodeError as e:
        raise TraceError(f"{path}: unreadable live log ({e})") from None
    return started


def read_log(path: Path, root: Path | None = None) -> tuple[list, bool]:
    if not os.path.lexists(path):
        raise TraceError(f"run {run_id_of(path)} finished while being read; read it again")
    with open_regular(path, root) as f:
        data = f.read()
    return decode_log(data, run_id_of(path))


def stale_log_temps(traces: Path) -> list[Path]:
    """Logs a killed recorder created but never renamed into place (see LogWriter)."""
    stale = []
    for path in live_dir(traces).glob(".run-*.new"):
        fd = _locked_fd(path, fcntl.LOCK_EX)
        if fd is not None:
            os.close(fd)
            stale.append(path)
    return stale


class AbandonedLog(_HeldLog):
    """An exclusive hold on a log whose writer is gone; None from `claim` if it is live."""

    def __init__(self, path: Path, fd: int):
        self._hold(path, fd)

    @classmethod
    def claim(cls, path: Path, root: Path | None = None) -> "AbandonedLog | None":
        fd = _locked_fd(path, fcntl.LOCK_EX, root)
        if fd is None:
            return None
        # Another recoverer may have published and unlinked it between our open and our
        # lock; then we hold a lock on a dead inode and must leave it alone.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return None
        return cls(path, fd)


def _locked_fd(path: Path, mode: int, root: Path | None = None) -> int | None:
    """A descriptor of ``path`` holding a flock of ``mode``; None if missing or held.
    TraceError if it is not a regular file (a FIFO would block a plain open)."""
    try:
        fd = regular_fd(path, root)
    except TraceError:
        if not os.path.lexists(path):
            return None
        raise
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def is_live(path: Path) -> bool:
    """True while a writer holds the log's lock."""
    fd = _locked_fd(path, fcntl.LOCK_SH)
    if fd is None:
        return path.exists()
    os.close(fd)
    return False


class LogTail:
    """Follows a live log: each `poll` returns only the events appended since the last one.

    Reads from the last offset, so polling a long run stays cheap. When the log disappears
    the run has been published (or recovered): ``gone`` turns True and the caller reads
    the finished trace instead.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.run_id = run_id_of(self.path)
        self.offset = 0
        self.gone = False
        self._partial = b""
        self._binary: binlog.BinaryLogReader | None = None

    def poll(self) -> list:
        try:
            with open_regular(self.path) as f:
                f.seek(self.offset)
                data = f.read()
        except TraceError:
            if os.path.lexists(self.path):
                raise
            self.gone = True
            return []
        self.offset += len(data)
        data = self._partial + data
        if self._binary is None and data.startswith(binlog.MAGIC[:1]):
            self._binary = binlog.BinaryLogReader(self.run_id)
        if self._binary is not None:
            events, used = self._binary.feed(data)
            self._partial = data[used:]
            return events
        body, sep, tail = data.rpartition(b"\n")
        if not sep:
            self._partial = tail
            return []
        self._partial = tail
        return decode_log(body + b"\n", self.run_id)[0]
