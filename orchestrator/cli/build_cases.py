"""``fbench build-cases``: every argument of seed 000, plus backend, jobs and cache."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestrator.cli.options import executor_options
from orchestrator.errors import UsageError
from orchestrator.pipeline.registry import registry


def _gpu_ids(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        return tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter("expected comma-separated GPU ids, e.g. 6,7,8") from None


@click.command("build-cases")
@click.option(
    "--config-path",
    type=click.Path(path_type=Path),
    help="Repo specs: a .py module of SPECS_* dicts or a .toml file.",
)
@click.option(
    "--global-config-path",
    type=click.Path(path_type=Path),
    default=Path("config.toml"),
    show_default=True,
    help="config.toml with [env] (optional).",
)
@click.option(
    "--output-dir",
    type=click.Path(path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Root of the timestamped run directories.",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path, file_okay=False),
    help="Continue the run in <output-dir>/<YYYY-MM-DD>/<HH-MM-SS>.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for sampling and selection."
)
@click.option("--debug-repo", multiple=True, help="Run only these spec names (repeatable).")
@click.option("--debug-sample", multiple=True, help="Run only these test file stems (repeatable).")
@click.option(
    "--log-level",
    type=click.Choice(["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]),
    default="INFO",
    show_default=True,
)
@click.option(
    "--logs-dir", type=click.Path(path_type=Path), help="Logs root (default: <run>/logs)."
)
@click.option(
    "--repos-dir",
    type=click.Path(path_type=Path),
    help="Where clones live (default: <cache-dir>/repos).",
)
@click.option(
    "--gpu-ids", callback=_gpu_ids, help="Comma-separated GPU ids for specs that ask for GPUs."
)
@click.option(
    "--debug", "debug", default="", help='Stage controls, e.g. "end=scanner, scanner=False".'
)
@click.option(
    "--backend",
    type=click.Choice(registry("environments").types()),
    default="local",
    show_default=True,
    help="Overrides each spec's env_manager; local (uv) defers to it.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Items run at once.",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Shared cache (default: the resumed run's, else ~/.cache/featurebench).",
)
@click.option("--no-cache", is_flag=True, help="Use a temporary cache, removed at exit.")
@click.option(
    "--no-sandbox",
    is_flag=True,
    help="Run the projects' tests unconfined (local backend): only for code you trust.",
)
@executor_options
def build_cases_command(**options: object) -> None:
    """Turn repositories into cases: repo, image, scanner, runner, ...

    The run directory is printed on stdout, everything else on stderr.
    """
    if options["no_cache"] and options["cache_dir"]:
        raise UsageError("give --cache-dir or --no-cache, not both")
    options["debug_repos"] = options.pop("debug_repo")
    options["debug_samples"] = options.pop("debug_sample")
    from orchestrator.build import BuildOptions, build_cases  # heavy: imported when run

    click.echo(build_cases(BuildOptions(**options)))  # type: ignore[arg-type]
