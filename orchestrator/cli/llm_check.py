"""``fbench llm-check``: is the ``[llm]`` configuration usable? Models, then one tiny completion."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.errors import UsageError


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
    from orchestrator.llm.check import check
    from orchestrator.pipeline.run_setup import global_config  # heavy (openai): when run

    _, config = global_config(global_config_path)
    if config is None:
        raise UsageError(
            f"{global_config_path}: no [llm] table; add one with base_url and model"
            " (see README, 'LLM mode')"
        )
    result = check(config)
    click.echo(f"endpoint {config.base_url}: {len(result.models)} models")
    for name in result.models:
        click.echo(f"  {'*' if name == config.model else ' '} {name}")
    if result.models and config.model not in result.models:
        click.echo(f"warning: the configured model {config.model!r} is not listed", err=True)
    click.echo(
        f"completion by {config.model} in {result.seconds:.2f}s,"
        f" {result.tokens} tokens: {result.answer!r}"
    )
