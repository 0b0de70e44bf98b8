"""``fbench cases list`` and ``fbench cases show``: what a run holds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from orchestrator.cli.options import cases_option_with, run_directory

LATEST = Path("runs") / "latest"  # build-cases' default --output-dir, and its link


@click.group()
def cases() -> None:
    """List the cases of a run, or show one."""


@cases.command("list")
@click.argument(
    "run",
    required=False,
    default=LATEST,
    type=click.Path(path_type=Path, file_okay=False),
    callback=run_directory,
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON data.")
def list_command(run: Path, as_json: bool) -> None:
    """One line per case of RUN (default: runs/latest): level, tests, lines removed."""
    from orchestrator.grading.case_index import case_rows, case_table
    from orchestrator.grading.eval_inputs import load_cases

    rows = case_rows(load_cases(run))
    click.echo(json.dumps(rows, indent=2) if as_json else case_table(rows), nl=as_json)


@cases.command("show")
@click.argument("instance")
@cases_option_with(LATEST)
@click.option("--json", "as_json", is_flag=True, help="Print instance.json and the path.")
def show_command(instance: str, cases: Path, as_json: bool) -> None:
    """Show one case: INSTANCE is its id, or a part of it that names one case only."""
    from orchestrator.grading.case_index import case_details, case_json, find_case
    from orchestrator.grading.eval_inputs import load_cases

    case = find_case(load_cases(cases), instance)
    click.echo(case_json(case) if as_json else case_details(case), nl=False)
