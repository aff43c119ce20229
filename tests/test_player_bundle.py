"""The player's vendored Plotly bundle is the one its README names, of the plotly.js
version the Python package ships, and it is what the player and the HTML export use."""

from __future__ import annotations

import hashlib
import re

import plotly.offline

from viewer.player import FRONTEND, PLOTLY_JS

VENDOR = FRONTEND / "vendor"


def test_vendored_bundle_is_the_recorded_one_and_in_use():
    data = (VENDOR / "plotly-basic.min.js").read_bytes()
    recorded = re.search(r"sha256 `([0-9a-f]{64})`", (VENDOR / "README.md").read_text()).group(1)
    assert hashlib.sha256(data).hexdigest() == recorded
    version = re.search(rb"plotly\.js \(basic - minified\) v(\S+)", data[:400]).group(1).decode()
    assert version == plotly.offline.get_plotlyjs_version()
    assert PLOTLY_JS == VENDOR / "plotly-basic.min.js"
    assert (VENDOR / "LICENSE").read_text().startswith("MIT License")
