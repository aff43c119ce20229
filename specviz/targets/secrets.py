"""Where the API key comes from, and keeping it out of traces and messages."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

# First one set wins. CEREBRAS_API_KEY because the seed's target was Cerebras.
KEY_ENV_VARS = ("SPECVIZ_API_KEY", "OPENAI_API_KEY", "CEREBRAS_API_KEY")
# Local servers (mlx_lm.server, llama.cpp, vLLM without --api-key) ignore the key, but the
# SDK refuses to build a client without one.
DUMMY_KEY = "specviz-no-key"


def api_key_from_env(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    for name in KEY_ENV_VARS:
        value = environ.get(name, "").strip()
        if value:
            return value
    return DUMMY_KEY


def scrub(text: str, *secrets: str) -> str:
    """``text`` with every secret replaced; short secrets are scrubbed too (a leak is a leak)."""
    for secret in secrets:
        if secret and secret != DUMMY_KEY:
            text = text.replace(secret, "***")
    return text


def safe_url(url: str) -> str:
    """The URL without user:password@ and without a query string (either can carry a key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
