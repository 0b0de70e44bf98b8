"""``fbench sandbox``: run a job list (probe, refine recipe, execution, evaluation)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestrator.pipeline.registry import registry


@click.command("sandbox")
@click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="The job list: a .yaml, .yml or .toml file with probe_jobs ... evaluation_jobs.",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path),
    default=Path("runs/sandbox"),
    show_default=True,
    help="Root of the timestamped run directories.",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False),
    help="Continue this run: finished jobs are kept, the others run.",
)
@click.option(
    "--global-config-path",
    type=click.Path(path_type=Path),
    default=Path("config.toml"),
    show_default=True,
    help="config.toml with [env] and [llm] (optional), for every build job.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Shared stage cache (default: ~/.cache/featurebench).",
)
@click.option(
    "--backend",
    type=click.Choice(registry("environments").types()),
    default="local",
    show_default=True,
    help="Overrides each spec's env_manager; local (uv) defers to it.",
)
@click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True)
@click.option(
    "--no-sandbox",
    is_flag=True,
    help="Run the projects' tests unconfined (local backend): only for code you trust.",
)
def sandbox_command(
    config: Path | None,
    output_dir: Path,
    resume: Path | None,
    global_config_path: Path,
    cache_dir: Path | None,
    backend: str,
    jobs: int,
    no_sandbox: bool,
) -> None:
    """Run the jobs of a job list in order; each job is a hook by type (fbench plugins)."""
    from orchestrator.jobs.hooks import JobDefaults
    from orchestrator.jobs.run import SandboxOptions, run_sandbox

    defaults = JobDefaults(global_config_path, cache_dir, backend, jobs, no_sandbox)
    options = SandboxOptions(config, output_dir, resume, defaults, _progress)
    click.echo(run_sandbox(options))


def _progress(line: str) -> None:
    click.echo(line, err=True)
