"""Make MLX's CPU backend use OpenBLAS on Linux, with nothing for the user to do.

The ``mlx-cpu`` wheel links the reference BLAS (a 2048² fp32 GEMM runs at ~8 GFLOP/s).
MLX resolves ``cblas_*`` through the global symbol scope, so loading OpenBLAS with
RTLD_GLOBAL *before* ``mlx`` is first imported makes every matmul use it (~300 GFLOP/s
measured here), which is what makes verifying K tokens nearly as cheap as one.

OpenBLAS from the ``cmeel-openblas`` wheel needs ``libgfortran.so.5``, which a bare
machine lacks. The ``mlx-cpu`` wheel bundles a libgfortran, but auditwheel renamed its
SONAME, and the loader matches an already-loaded library to a NEEDED entry by SONAME
(OpenBLAS's $ORIGIN RPATH is not consulted under python's RUNPATH). So when the system
has no libgfortran we keep a copy in the user cache whose SONAME is written back to
``libgfortran.so.5`` (same bytes otherwise), load it globally, then OpenBLAS.

The preload happens only where MLX is imported: ``import specviz`` installs a finder
that runs it the moment anything first imports ``mlx`` (the engine, the model
conversion, a test, ``mlx_lm.server``), so commands that never touch MLX (``runs``,
``sql``, the viewer) load neither. Set ``SPECVIZ_BLAS=reference`` to keep the wheel's
BLAS (for comparisons).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_loaded: str | None = None


def _site_dirs() -> list[Path]:
    import sysconfig

    dirs = [Path(p) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
    dirs += [Path(p) for p in sys.path if p.endswith("site-packages")]
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def _find(pattern: str) -> Path | None:
    for site in _site_dirs():
        hits = sorted(site.glob(pattern))
        if hits:
            return hits[0]
    return None


def _gfortran_shim() -> list[Path]:
    """Libraries to load, in order, so that OpenBLAS's NEEDED libgfortran.so.5 resolves."""
    gfortran = _find("mlx_cpu.libs/libgfortran*.so*")
    if gfortran is None:
        return []
    from platformdirs import user_cache_dir

    shim = Path(user_cache_dir("specviz")) / "openblas" / f"{gfortran.stat().st_size}"
    shim.mkdir(parents=True, exist_ok=True)
    patched = shim / "libgfortran.so.5"
    if not patched.exists():
        data = gfortran.read_bytes()
        old = gfortran.name.encode() + b"\0"
        new = b"libgfortran.so.5\0"
        if old not in data:
            return []
        # Same length keeps every other offset valid; the string table tolerates padding.
        data = data.replace(old, new + b"\0" * (len(old) - len(new)))
        tmp = shim / f".libgfortran.{os.getpid()}"
        tmp.write_bytes(data)
        os.replace(tmp, patched)
    # The bundled libgfortran asks for libquadmath by its mangled SONAME: load it by path.
    return sorted(gfortran.parent.glob("libquadmath*.so*")) + [patched]


def preload_openblas() -> str | None:
    """Load OpenBLAS globally if possible; return its path, or None when left alone."""
    global _loaded
    if _loaded or sys.platform != "linux" or os.environ.get("SPECVIZ_BLAS") == "reference":
        return _loaded
    if "mlx.core" in sys.modules:
        return None  # too late: mlx already bound its BLAS symbols
    openblas = _find("cmeel.prefix/lib/libopenblas.so.0")
    if openblas is None:
        return None
    import ctypes

    # OpenBLAS spins a worker per core by default; MLX runs its own threads beside it, and
    # on a busy 2-core machine the spinning made a one-token step 3-5x slower. Half the
    # cores (OpenBLAS reads this once, when loaded) unless the user chose.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, min(4, (os.cpu_count() or 2) // 2))))
    mode = ctypes.RTLD_GLOBAL
    try:
        ctypes.CDLL(str(openblas), mode=mode)
        _loaded = str(openblas)
        return _loaded
    except OSError:
        pass  # most likely no system libgfortran: use the shim directory
    try:
        for lib in _gfortran_shim():
            ctypes.CDLL(str(lib), mode=mode)
        ctypes.CDLL(str(openblas), mode=mode)
    except OSError:
        return None  # reference BLAS still works, only slower
    _loaded = str(openblas)
    return _loaded


class _PreloadBeforeMlx:
    """A meta-path finder that finds nothing: it only preloads OpenBLAS when ``mlx`` is
    first looked for, then leaves the import to the normal finders."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "mlx":
            sys.meta_path[:] = [f for f in sys.meta_path if f is not _PreloadBeforeMlx]
            preload_openblas()
        return None


def preload_before_mlx() -> None:
    """Arrange for `preload_openblas` to run just before the first ``import mlx``."""
    if "mlx" in sys.modules:
        preload_openblas()  # returns at once: too late, or already done
    elif _PreloadBeforeMlx not in sys.meta_path:
        sys.meta_path.insert(0, _PreloadBeforeMlx)


def blas_in_use() -> str:
    return _loaded or "reference (mlx-cpu wheel)"
