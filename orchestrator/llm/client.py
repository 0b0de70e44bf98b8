"""One client for every LLM request: concurrency, retries, cache, call logs, figures.

- Requests run at most ``concurrency`` at a time (a semaphore shared by every
  thread of the run).
- 429s, 5xx responses, timeouts, dropped connections and bodies that are not
  JSON are retried up to
  ``max_retries`` times, after the server's ``Retry-After`` when it sends one,
  otherwise with exponential backoff. The openai client's own retries are off,
  so every attempt is seen and logged here.
- Each answer is cached as soon as it arrives, under the fingerprint of the
  model, the prompt's name and version, the messages and the sampling
  settings: a rerun of the same run makes no request, and a request that fails
  loses none of the answers before it.
- ``logs/llm_api_calls/`` gets one JSON file per request: the messages, the
  answer, token counts and attempts. The key is never written: it travels only
  in the Authorization header, and any echo of it in a reply is masked.
  Each record has the prompt's size (characters and estimated tokens).
- An endpoint that fails ``max_retries`` times in a row (5xx, 429, timeouts,
  dropped connections) is taken as down: every later request of the run fails
  at once with one line naming the URL, rather than waiting through retries
  batch after batch. Answers already cached are still served.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

from orchestrator.errors import CommandError, FbenchError
from orchestrator.llm.config import LLMConfig
from orchestrator.llm.prompts import Prompt
from orchestrator.pipeline.storage import ResultCache, fingerprint, write_json

CACHE_STAGE = "llm"
_BACKOFF = 0.5  # seconds before the first retry without Retry-After; doubled each time
_MAX_WAIT = 60.0
CHARS_PER_TOKEN = 3  # no tokenizer of the endpoint's model here: a conservative estimate


def _retried() -> tuple[type[Exception], ...]:
    # openai is imported when a client is made, not with fbench: offline runs never need it.
    import openai

    return (
        openai.RateLimitError,
        openai.InternalServerError,
        openai.APITimeoutError,
        openai.APIConnectionError,
    )


class LLMError(FbenchError):
    """A request that failed for good; the message names the endpoint and why."""


@dataclass
class LLMStats:
    calls: int = 0  # requests answered by the endpoint
    attempts: int = 0  # HTTP attempts, retries included
    cache_hits: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # served from the server's prompt-prefix cache, if it says
    cost: float | None = None


COUNTED = tuple(name for name in LLMStats.__dataclass_fields__ if name != "cost")


class LLM:
    def __init__(self, config: LLMConfig, key: str, cache: ResultCache | None, logs: Path | None):
        self.config = config
        self._key = key
        self.cache = cache
        self.logs = logs / "llm_api_calls" if logs is not None else None  # None: a check
        self.stats = LLMStats()
        self._slots = threading.Semaphore(config.concurrency)
        self._lock = threading.Lock()
        self.down: str | None = None  # why the endpoint is taken as down, once it is
        # Held by whoever sends a group of related requests (one test file's), so that
        # they go back to back and a server's prompt-prefix cache can serve them.
        self.turn = threading.Lock()
        import openai

        self._client = openai.OpenAI(
            base_url=config.base_url, api_key=key, timeout=config.timeout, max_retries=0
        )

    def identity(self, prompt: Prompt) -> dict[str, Any]:
        """What a cached result made with ``prompt`` depends on, for stage cache keys."""
        config = self.config
        return {
            "model": config.model,
            "prompt": prompt.name,
            "version": prompt.version,
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "max_prompt_tokens": config.max_prompt_tokens,
        }

    def models(self) -> list[str]:
        """The endpoint's models; a one-line CommandError naming the URL when unreachable."""
        import openai

        try:
            return sorted(model.id for model in self._client.models.list())
        except openai.APIError as exc:
            raise CommandError(
                f"LLM endpoint {self.config.base_url} is not usable: {self._why(exc)}"
            ) from None

    def complete(self, prompt: Prompt, variables: dict[str, str], cached: bool = True) -> str:
        """The model's answer to ``prompt`` filled with ``variables``, from the cache if there.

        ``cached=False`` (a stage's cache turned off) asks again, and stores the new answer.
        """
        messages = prompt.render(variables)
        settings = {"temperature": self.config.temperature, "max_tokens": self.config.max_tokens}
        key = fingerprint(CACHE_STAGE, self.identity(prompt), messages)
        found = self.cache.get(CACHE_STAGE, key) if self.cache and cached else None
        if found is not None:
            with self._lock:
                self.stats.cache_hits += 1
            return str(found["text"])
        if self.down is not None:
            raise LLMError(self.down)
        text, usage, attempts = self._request(messages, settings, key, prompt)
        if self.cache is not None:
            self.cache.put(CACHE_STAGE, key, {"text": text, "usage": usage})
        self._log(key, prompt, messages, text, usage, attempts)
        return text

    def _request(
        self, messages: list[dict[str, str]], settings: dict[str, Any], key: str, prompt: Prompt
    ) -> tuple[str, dict[str, int], int]:
        import openai

        retried: tuple[type[Exception], ...] = (*_retried(), ValueError)  # ValueError: not JSON
        for attempt in range(1, self.config.max_retries + 2):
            with self._lock:
                self.stats.attempts += 1
            try:
                with self._slots:
                    response = self._client.chat.completions.create(
                        model=self.config.model,
                        messages=messages,  # type: ignore[arg-type]
                        **settings,
                    )
            except retried as exc:
                if attempt > self.config.max_retries:
                    self._fail(key, prompt, messages, exc, attempt, down=True)
                time.sleep(_wait(exc, attempt))
                continue
            except openai.APIError as exc:
                self._fail(key, prompt, messages, exc, attempt)
            if not response.choices:  # a content filter, say: nothing to use, and no retry
                self._fail(key, prompt, messages, ValueError("the reply has no choices"), attempt)
            text = response.choices[0].message.content or ""
            usage = _usage(response.usage)
            self._count(usage)
            return text, usage, attempt
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _fail(
        self,
        key: str,
        prompt: Prompt,
        messages: list[dict[str, str]],
        exc: Exception,
        attempts: int,
        down: bool = False,
    ) -> NoReturn:
        why = self._why(exc)
        message = f"LLM request to {self.config.base_url} failed after {attempts} attempts: {why}"
        with self._lock:
            self.stats.failures += 1
            if down and self.down is None:
                self.down = f"{message}; LLM work stopped for the rest of the run"
        self._log(key, prompt, messages, None, {}, attempts, error=why)
        raise LLMError(message)

    def _count(self, usage: dict[str, int]) -> None:
        with self._lock:
            stats = self.stats
            stats.calls += 1
            stats.prompt_tokens += usage["prompt_tokens"]
            stats.completion_tokens += usage["completion_tokens"]
            stats.cached_prompt_tokens += usage.get("cached_tokens", 0)
            self._price()

    def _price(self) -> None:
        config, stats = self.config, self.stats
        if config.price_input_per_1k is not None or config.price_output_per_1k is not None:
            stats.cost = (
                stats.prompt_tokens * (config.price_input_per_1k or 0.0)
                + stats.completion_tokens * (config.price_output_per_1k or 0.0)
            ) / 1000

    def add(self, other: LLMStats, down: str | None = None) -> None:
        """What a client of this run elsewhere spent (a Ray worker's), counted as this one's."""
        with self._lock:
            for name in COUNTED:
                setattr(self.stats, name, getattr(self.stats, name) + getattr(other, name))
            self._price()
            self.down = self.down or down

    def _log(
        self,
        key: str,
        prompt: Prompt,
        messages: list[dict[str, str]],
        text: str | None,
        usage: dict[str, int],
        attempts: int,
        error: str | None = None,
    ) -> None:
        if self.logs is None:
            return
        record = {
            "base_url": self.config.base_url,
            "model": self.config.model,
            "prompt": prompt.name,
            "prompt_version": prompt.version,
            "prompt_size": prompt_size(messages),
            "messages": messages,
            "response": self._redact(text) if text is not None else None,
            "error": error,
            "usage": usage,
            "attempts": attempts,
        }
        write_json(self.logs / f"{prompt.name}-{key[:16]}.json", record)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    def _why(self, exc: Exception) -> str:
        """One line on a failure; a server may echo the key in its error body, so masked."""
        return self._redact(_why(exc))

    def summary(self) -> dict[str, Any]:
        return {"model": self.config.model, **asdict(self.stats), "down": self.down}


def _usage(usage: Any) -> dict[str, int]:
    """Token counts of a reply; ``cached_tokens`` only when the server reports them."""
    if usage is None:
        return {"prompt_tokens": 0, "completion_tokens": 0}
    found = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is not None:
        found["cached_tokens"] = cached
    return found


def estimate_tokens(chars: int) -> int:
    """Tokens that many characters of prompt take, erring high (code: 3-4 a token)."""
    return -(-chars // CHARS_PER_TOKEN)


def prompt_size(messages: list[dict[str, str]]) -> dict[str, int]:
    chars = sum(len(m["content"]) for m in messages)
    return {"chars": chars, "estimated_tokens": estimate_tokens(chars)}


def _wait(exc: Exception, attempt: int) -> float:
    """Seconds before the next attempt: the server's Retry-After, else exponential backoff."""
    response = getattr(exc, "response", None)
    header: str | None = response.headers.get("retry-after") if response is not None else None
    if header:
        try:
            return min(max(float(header), 0.0), _MAX_WAIT)
        except ValueError:
            pass  # an HTTP date: fall back to backoff
    backoff: float = _BACKOFF * 2.0 ** (attempt - 1)
    return min(backoff, _MAX_WAIT)


def _why(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = str(exc).splitlines()[0] if str(exc) else name
    return f"{name}{f' (HTTP {status})' if status else ''}: {message}"[:300]
