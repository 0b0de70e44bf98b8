"""``fbench sandbox``: run a job list (probe, refine recipe, execution, evaluation)."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.build_cases import build_cases_command


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
def sandbox_command(
    config: Path | None,
    output_dir: Path,
    resume: Path | None,
    global_config_path: Path,
    cache_dir: Path | None,
    backend: str,
    jobs: int,
    no_sandbox: bool,
    executor: str,
    ray_address: str | None,
) -> None:
    """Run the jobs of a job list in order; each job is a hook by type (fbench plugins).

    With --executor ray, each build job's specs and each evaluate job's cases run as
    Ray tasks, as build-cases, build-pairs and eval run them.
    """
    from orchestrator.executors import executor as chosen
    from orchestrator.jobs.hooks import JobDefaults
    from orchestrator.jobs.run import SandboxOptions, run_sandbox

    chosen(executor, ray_address).close()  # Ray missing: said before the run directory

    defaults = JobDefaults(
        global_config_path, cache_dir, backend, jobs, no_sandbox, executor, ray_address
    )
    options = SandboxOptions(config, output_dir, resume, defaults, _progress)
    click.echo(run_sandbox(options))


def _progress(line: str) -> None:
    click.echo(line, err=True)


# What every build job of the list uses, as build-cases declares it.
_SHARED = (
    "global_config_path", "cache_dir", "backend", "jobs", "no_sandbox", "executor", "ray_address",
)  # fmt: skip
sandbox_command.params += [p for p in build_cases_command.params if p.name in _SHARED]
