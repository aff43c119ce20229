"""Start a real OpenAI-compatible server on 127.0.0.1 for a test, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

# ``import specviz`` first so OpenBLAS is preloaded before mlx (40x faster GEMM on Linux).
_MLX_LAUNCH = "import specviz; from mlx_lm.server import main; main()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status == 200
    except OSError:
        return False


def _server_env() -> dict[str, str]:
    # One BLAS thread: on a shared 2-core machine OpenBLAS's spinning worker threads made
    # each 5-token request 2-6 s instead of ~1 s (measured with a concurrent benchmark).
    # No hub: the models are local files.
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}


@contextlib.contextmanager
def serve(argv: list[str], port: int, ready_path: str, *, ready_timeout_s: float = 120.0,
          log: Path | None = None) -> Iterator[str]:
    """Runs ``argv`` (a server listening on ``port``); yields ``http://127.0.0.1:port/v1``
    once ``ready_path`` answers 200, and stops the server on exit."""
    root = f"http://127.0.0.1:{port}"
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=_server_env())
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not _answers(root + ready_path):
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise TimeoutError(f"server not ready after {ready_timeout_s:.0f}s: {argv}")
            time.sleep(0.2)
        yield f"{root}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()


def mlx_lm_server(model: Path, **kwargs) -> contextlib.AbstractContextManager[str]:
    port = free_port()
    argv = [sys.executable, "-c", _MLX_LAUNCH, "--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    return serve(argv, port, "/health", **kwargs)


def llama_cpp_server(python: str, gguf: Path, **kwargs) -> contextlib.AbstractContextManager[str]:
    """llama-cpp-python's server, run by ``python`` (an environment that has it installed)."""
    port = free_port()
    argv = [python, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", "2048", "--logits_all", "true"]
    return serve(argv, port, "/v1/models", **kwargs)
