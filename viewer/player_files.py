"""The player's own files, served so a browser keeps them: gzip'd once, revalidated by ETag.

Streamlit serves a component's files with ``Cache-Control: public`` and no validator, so
a browser fetches all of them again on every page load, and its gzip middleware
compresses each again (Plotly's 1.2 MB bundle: ~40 ms of the server's CPU per open, on the
event loop that also serves the page). ``PlayerFiles`` (ASGI middleware, viewer/server.py)
answers those requests itself: each file compressed once per version of the file, sent
with an ETag and ``no-cache`` (the browser asks every time, so a new version is never
missed), and a 304 with no body when the browser already has it, which also lets Chrome
reuse its compiled code for Plotly. Anything else, and a client that does not take gzip,
goes on to Streamlit unchanged.
"""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from viewer.player import COMPONENT, FILES, component_dir

SERVED = frozenset(FILES) | {"plotly.min.js"}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


class _Cache:
    """(ETag, gzip'd bytes) per file, rebuilt when the file's size or mtime changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, tuple[str, bytes]] = {}

    def get(self, name: str) -> tuple[str, bytes]:
        path = component_dir() / name
        stat = path.stat()
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        with self._lock:
            held = self._files.get(name)
        if held is None or held[0] != etag:
            held = etag, gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
            with self._lock:
                self._files[name] = held
        return held


def _player_file(scope) -> str | None:
    """The file name when the request is for one of the player's files, else None."""
    parts = scope["path"].rsplit("/", 3)
    if len(parts) == 4 and parts[1] == "component" and parts[2].endswith(COMPONENT) and parts[3] in SERVED:
        return parts[3]
    return None


class PlayerFiles:
    """ASGI middleware: the player's files from memory, with ETag revalidation."""

    def __init__(self, app) -> None:
        self.app = app
        self.cache = _Cache()

    async def __call__(self, scope, receive, send) -> None:
        name = _player_file(scope) if scope["type"] == "http" and scope.get("method") == "GET" else None
        headers = dict(scope.get("headers") or ()) if name else {}
        if name is None or b"gzip" not in headers.get(b"accept-encoding", b""):
            await self.app(scope, receive, send)
            return
        try:
            etag, body = self.cache.get(name)
        except OSError:  # not there (yet): Streamlit answers as it would
            await self.app(scope, receive, send)
            return
        fresh = headers.get(b"if-none-match", b"").decode("latin-1") == etag
        out = [(b"etag", etag.encode()), (b"cache-control", b"no-cache"), (b"vary", b"Accept-Encoding")]
        if not fresh:
            out += [(b"content-type", TYPES.get(Path(name).suffix, "application/octet-stream").encode()),
                    (b"content-encoding", b"gzip"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 304 if fresh else 200, "headers": out})
        await send({"type": "http.response.body", "body": b"" if fresh else body})
