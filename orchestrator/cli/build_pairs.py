"""``fbench build-pairs``: build-cases' options, plus the pairs pipeline's own."""

from __future__ import annotations

from typing import Any

import click

from orchestrator.cli.build_cases import build_cases_command
from orchestrator.errors import UsageError

_SHARED = (
    "config_path", "global_config_path", "output_dir", "resume", "seed", "debug_repo",
    "debug_sample", "log_level", "logs_dir", "repos_dir", "gpu_ids", "debug", "backend", "jobs",
    "cache_dir", "no_cache", "executor", "ray_address",
)  # fmt: skip


@click.command("build-pairs")
@click.option("--num-samples", type=click.IntRange(min=1), help="At most this many seeds per spec.")
@click.option("--clean", is_flag=True, help="Empty --output-dir of its runs first.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
    help="Seeds sent to the LLM together.",
)  # fmt: skip
@click.option(
    "--delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
    help="Seconds between LLM batches.",
)  # fmt: skip
@click.option(
    "--source", metavar="KIND:WHERE",
    help="Seeds from a column of Python files instead of specs: hf:NAME (streamed),"
    " jsonl:PATH or parquet:PATH; validated by self-tests.",
)  # fmt: skip
@click.pass_context
def build_pairs_command(ctx: click.Context, /, **options: Any) -> None:
    """Instruction/response pairs validated by the repositories' own tests."""
    if options["no_cache"] and options["cache_dir"]:
        raise UsageError("give --cache-dir or --no-cache, not both")
    options["debug_repos"] = options.pop("debug_repo")
    options["debug_samples"] = options.pop("debug_sample")
    from orchestrator.pairs.run import PairsOptions, build_pairs  # heavy: imported when run

    root, run = build_pairs(PairsOptions(**options))
    click.echo(f"pairs: {root / 'final_dataset' / 'instruction_dataset.jsonl'}")
    if run.errors:  # infrastructure failures: the dataset may be short of what it should be
        ctx.exit(1)


# build-cases' own option objects: the two commands cannot drift apart.
build_pairs_command.params[:0] = [p for p in build_cases_command.params if p.name in _SHARED]
