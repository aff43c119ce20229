"""Suite-wide settings: the footer cache (store/footer_cache.py) stays on, as users have
it, but lives in a directory of this test session rather than the user's ~/.cache."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "SPECVIZ_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="specviz-test-cache-")
    os.environ["SPECVIZ_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
