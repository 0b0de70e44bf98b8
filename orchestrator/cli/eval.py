"""``fbench eval``: grade predictions (or the gold and empty self-checks) on a run's cases."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestrator.cli.options import cases_option, executor_options
from orchestrator.pipeline.storage import read_json


@click.command("eval")
@cases_option
@click.option(
    "--predictions",
    required=True,
    help="SWE-bench JSONL, a JSON list, mini-swe-agent's preds.json, OpenHands'"
    " output.jsonl, or gold, or empty.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Cases graded at once.",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "docker"]),
    help="Where the tests run (default: the backend each case was built with).",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory of the reports, one folder per model (default: <cases>/evaluations).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Where the environments are (default: ~/.cache/featurebench).",
)
@click.option("--force", is_flag=True, help="Replace an earlier report of the same model.")
@click.option(
    "--patch-fuzz",
    is_flag=True,
    help="If git apply fails, try git apply --reject, then patch --fuzz (as SWE-bench does).",
)
@click.option(
    "--no-sandbox",
    is_flag=True,
    help="Run the tests unconfined (local backend): only for patches you trust.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted eval into the same --report: reuse the cases it graded.",
)
@executor_options
def eval_command(
    cases: Path,
    predictions: str,
    jobs: int,
    backend: str | None,
    report: Path | None,
    cache_dir: Path | None,
    force: bool,
    patch_fuzz: bool,
    no_sandbox: bool,
    resume: bool,
    executor: str,
    ray_address: str | None,
) -> None:
    """Apply each patch to its case, restore the tests, run them and grade strictly."""
    from orchestrator.grading.evaluate import EvalOptions, evaluate  # heavy: imported when run
    from orchestrator.pipeline.progress import stage_progress

    options = EvalOptions(cases, predictions, jobs, backend, report, cache_dir, force=force)
    options.patch_fuzz, options.sandbox = patch_fuzz, not no_sandbox
    options.resume = resume
    options.executor, options.ray_address = executor, ray_address
    with stage_progress() as progress:
        written = evaluate(options, progress)
    for path in written:
        data = read_json(path)
        click.echo(
            f"{data['model']}: {data['resolved_instances']}/{data['total_instances']} resolved"
            f" ({data['resolved_rate']:.1%}), pass rate {data['pass_rate']:.1%}"
            f" -> {path.with_suffix('.md')}"
        )
        if data["unknown_instance_ids"]:
            click.echo(f"  {len(data['unknown_instance_ids'])} unknown instance ids, listed there")
