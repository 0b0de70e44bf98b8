"""A loopback OpenAI-compatible server, and clients of it, for the LLM layer's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.llm.client import LLM
from orchestrator.llm.config import LLMConfig
from orchestrator.pipeline.storage import ResultCache
from orchestrator.pipeline.traces import Candidate
from tests.support.llm_server import MODEL, Server, serve

KEY_VARIABLE = "FB_TEST_LLM_KEY"
KEY = "sk-fbtest-0123456789abcdef-never-written"


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as running:
        yield running


def client(server: Server, tmp_path: Path, **settings: object) -> LLM:
    config = LLMConfig(base_url=server.url, model=MODEL, api_key_env=KEY_VARIABLE, **settings)  # type: ignore[arg-type]
    return LLM(config, KEY, ResultCache(tmp_path / "cache"), tmp_path / "logs")


def candidate(
    qualname: str, depth: int = 1, share: float = 1.0, path: str = "geom/textutil.py"
) -> Candidate:
    return Candidate(
        key=f"{path}::{qualname}:1",
        path=path,
        qualname=qualname,
        line=1,
        depth=depth,
        file_tests=1,
        suite_tests=1,
        specificity=share,
        score=share,
    )
