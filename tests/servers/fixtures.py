"""pytest fixtures for target tests; import them into a test module by name.

(``pytest_plugins`` is only honoured in the rootdir conftest, which belongs to the whole
team, so these are plain fixtures that a module imports.)
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

import specviz  # noqa: F401  (preloads OpenBLAS before mlx)
from servers.fake_openai import FakeCompletionsServer
from servers.real_servers import mlx_lm_server


@pytest.fixture(scope="session")
def bundled_path():
    from specviz.models.bundled import bundled_model_path

    return bundled_model_path()


@pytest.fixture(scope="session")
def tokenizer(bundled_path) -> Any:
    from mlx_lm.utils import load_tokenizer

    return load_tokenizer(bundled_path)


@pytest.fixture(scope="module")
def mlx_server_url(bundled_path, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("mlx-server") / "server.log"
    with mlx_lm_server(bundled_path, log=log) as url:
        yield url


@pytest.fixture
def fake_server(tokenizer, request) -> Iterator[FakeCompletionsServer]:
    """A legacy echo-capable fake; parametrize indirectly with a dict to change style/echo."""
    with FakeCompletionsServer(tokenizer, **getattr(request, "param", {})) as server:
        yield server
