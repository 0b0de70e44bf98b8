"""``fbench llm-check``: is the ``[llm]`` configuration usable? Models, then one tiny completion."""

from __future__ import annotations

import time
from pathlib import Path

import click

from orchestrator.build import global_config
from orchestrator.errors import UsageError
from orchestrator.llm.client import LLM
from orchestrator.llm.config import api_key
from orchestrator.llm.prompts import Prompt


@click.command("llm-check")
@click.option(
    "--global-config-path",
    type=click.Path(path_type=Path),
    default=Path("config.toml"),
    show_default=True,
    help="config.toml with the [llm] table.",
)
def llm_check_command(global_config_path: Path) -> None:
    """List the endpoint's models and run one tiny completion, uncached."""
    _, config = global_config(global_config_path)
    if config is None:
        raise UsageError(
            f"{global_config_path}: no [llm] table; add one with base_url and model"
            " (see README, 'LLM mode')"
        )
    llm = LLM(config, api_key(config), None, None)
    models = llm.models()
    click.echo(f"endpoint {config.base_url}: {len(models)} models")
    for name in models:
        click.echo(f"  {'*' if name == config.model else ' '} {name}")
    if models and config.model not in models:
        click.echo(f"warning: the configured model {config.model!r} is not listed", err=True)
    ping = Prompt("llm-check", 1, (("user", "Reply with the single word: ready"),))
    started = time.monotonic()
    answer = llm.complete(ping, {})
    seconds = time.monotonic() - started
    tokens = llm.stats.prompt_tokens + llm.stats.completion_tokens
    click.echo(f"completion by {config.model} in {seconds:.2f}s, {tokens} tokens: {answer!r}")
