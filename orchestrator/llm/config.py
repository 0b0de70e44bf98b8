"""The ``[llm]`` table of ``config.toml``, checked before anything runs.

The API key is never in the file: ``api_key_env`` names the variable that
holds it, and the key is read from the environment only when a client is made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.errors import UsageError

_MIN_PROMPT_TOKENS = 1500  # the prompts' fixed text and one candidate's head must fit


class LLMConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 1024
    timeout: float = 60.0  # seconds per request
    max_retries: int = 3  # for 429, 5xx, timeouts and dropped connections
    concurrency: int = 4
    # The longest prompt sent, in tokens estimated from its length (3 characters a token):
    # leave max_tokens free within the model's context.
    max_prompt_tokens: int = 6000
    # Optional prices in currency units per 1000 tokens, for the run's cost figure.
    price_input_per_1k: float | None = None
    price_output_per_1k: float | None = None


def parse_llm_config(table: Any, path: Path) -> LLMConfig | None:
    """The ``[llm]`` table as a config; None when the table is absent."""
    if table is None:
        return None
    try:
        config = msgspec.convert(table, LLMConfig)
    except msgspec.ValidationError as exc:
        raise UsageError(f"{path}: [llm]: {exc}") from None
    for name in ("max_tokens", "concurrency"):
        if getattr(config, name) < 1:
            raise UsageError(f"{path}: [llm] {name} must be at least 1")
    if config.max_prompt_tokens < _MIN_PROMPT_TOKENS:
        raise UsageError(
            f"{path}: [llm] max_prompt_tokens must be at least {_MIN_PROMPT_TOKENS}"
            f" (found {config.max_prompt_tokens}); a 4k-context model takes 3000"
        )
    if config.max_retries < 0 or config.timeout <= 0:
        raise UsageError(f"{path}: [llm] max_retries must be >= 0 and timeout > 0")
    if not config.base_url.startswith(("http://", "https://")):
        raise UsageError(
            f"{path}: [llm] base_url {config.base_url!r} must be an http(s) URL,"
            " e.g. https://api.openai.com/v1"
        )
    return config


def api_key(config: LLMConfig) -> str:
    """The key from the variable ``api_key_env`` names; a one-line error when it is unset."""
    key = os.environ.get(config.api_key_env)
    if not key:
        raise UsageError(
            f"[llm] api_key_env: the variable {config.api_key_env} is not set;"
            f" export {config.api_key_env}=<your key> (any non-empty value for a local server)"
        )
    return key
