"""The client-side replay player: a Streamlit component built from plain files in frontend/.

The page sends a run's payload (``payload.encode``) once per version of the run; the
player scrubs, plays and follows it in the browser, and posts its position back at most
once a second so the page can keep the URL current. The same files make the
self-contained HTML export (``export.write_html``).

No build step: the frontend speaks Streamlit's component messages itself. Plotly's own
JavaScript is Plotly's official scatter+bar partial bundle, vendored in frontend/vendor/
(see its README: a quarter of the full bundle, which a first open must parse, and no npm
on a user's machine), or the full bundle shipped in the plotly Python package if that file
is missing. Streamlit serves only files under the component's directory (symlinks out of
it are refused), so it is copied there, as plotly.min.js, on first use.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import plotly

FRONTEND = Path(__file__).resolve().parent / "frontend"
PLOTLY_BASIC = FRONTEND / "vendor" / "plotly-basic.min.js"
PLOTLY_FULL = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
PLOTLY_JS = PLOTLY_BASIC if PLOTLY_BASIC.is_file() else PLOTLY_FULL
COMPONENT = "specviz_player"
FILES = ("index.html", "player.css", "model.js", "charts.js", "treeview.js", "player.js")


def _has_plotly(directory: Path) -> bool:
    copy = directory / "plotly.min.js"
    return copy.is_file() and copy.stat().st_size == PLOTLY_JS.stat().st_size


def component_dir() -> Path:
    """The frontend directory with Plotly's JS beside it (a private copy when read-only)."""
    if _has_plotly(FRONTEND):
        return FRONTEND
    try:
        shutil.copyfile(PLOTLY_JS, FRONTEND / "plotly.min.js")
        return FRONTEND
    except OSError:
        pass
    private = Path(tempfile.gettempdir()) / f"specviz-player-{plotly.__version__}"
    private.mkdir(exist_ok=True)
    for name in FILES:
        shutil.copyfile(FRONTEND / name, private / name)
    if not _has_plotly(private):
        shutil.copyfile(PLOTLY_JS, private / "plotly.min.js")
    return private


@functools.cache
def _component():
    import streamlit.components.v1 as components

    return components.declare_component(COMPONENT, path=str(component_dir()))


def player(data: str, version: str, *, pos: int | None, nonce: int, key: str, work_ms: float = 0.0,
           fetch: str | None = None):
    """Draw the player; returns its last posted value ({pos, follow, playing, run, have}) or None.

    `version` changes when the run does; `data` is then the run's payload, a delta from
    the version the player says it has (`have`), or "" when it has this one already (a
    player that lacks it asks again by posting). `nonce` changes when the page wants the
    player at `pos` (a deep link), so the page's echo of the player's own position never
    pulls it back. `work_ms`, what this render cost the server, paces a live run's ticks.
    `fetch`, instead of `data`: a URL the player fetches the run's payload from itself
    (viewer/prefetch.py); it posts ``fetch_failed`` if it cannot.
    """
    return _component()(data=data, version=version, pos=pos, nonce=nonce, work_ms=round(work_ms), fetch=fetch,
                        key=key, default=None)
