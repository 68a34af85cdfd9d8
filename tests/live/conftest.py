"""The live suite's real backend: one llama.cpp server for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.llama_server import LlamaServer, running_llama_server


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with running_llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server
