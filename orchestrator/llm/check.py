"""``fbench llm-check``'s work: the endpoint's models, then one tiny uncached completion."""

from __future__ import annotations

import time
from dataclasses import dataclass

from orchestrator.llm.client import LLM
from orchestrator.llm.config import LLMConfig, api_key
from orchestrator.llm.prompts import Prompt

_PING = Prompt("llm-check", 1, (("user", "Reply with the single word: ready"),))


@dataclass(frozen=True)
class CheckResult:
    models: list[str]
    answer: str
    seconds: float
    tokens: int


def check(config: LLMConfig) -> CheckResult:
    """Raises with the variable or the URL when the configuration is not usable."""
    llm = LLM(config, api_key(config), None, None)  # no cache, no call logs: a check
    models = llm.models()
    started = time.monotonic()
    answer = llm.complete(_PING, {}, cached=False)
    tokens = llm.stats.prompt_tokens + llm.stats.completion_tokens
    return CheckResult(models, answer, time.monotonic() - started, tokens)
