"""Reading never pays for MLX: the OpenBLAS preload happens only where mlx is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_importing_sql_loads_neither_mlx_nor_openblas():
    r = _python("import specviz.sql", "-X", "importtime")
    assert r.returncode == 0, r.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "specviz.sql" in imported and "duckdb" in imported
    assert not [m for m in imported if m.split(".")[0] in ("mlx", "mlx_lm")]
    r = _python("import specviz.sql, specviz.store, sys; print('mlx' in sys.modules, 'cmeel.prefix' in open('/proc/self/maps').read())")
    assert r.stdout.split() == ["False", "False"], r.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="the preload is for mlx-cpu on Linux")
def test_openblas_is_preloaded_when_mlx_is_first_imported():
    r = _python(
        "import specviz, sys; assert 'mlx' not in sys.modules\n"
        "import mlx.core as mx\n"
        "from specviz._blas import blas_in_use\n"
        "print(blas_in_use())"
    )
    assert r.returncode == 0, r.stderr
    assert "cmeel.prefix/lib/libopenblas" in r.stdout
