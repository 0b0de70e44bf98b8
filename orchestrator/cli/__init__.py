"""The ``fbench`` command: a click group whose commands only parse and delegate.

The group's ``invoke`` is the one error boundary: a :class:`FbenchError`
becomes a one-line message and its exit code; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import click

from orchestrator import __version__
from orchestrator.cli.build_cases import build_cases_command
from orchestrator.cli.eval import eval_command
from orchestrator.cli.export import export_command
from orchestrator.cli.llm_check import llm_check_command
from orchestrator.cli.metrics import metrics_command
from orchestrator.cli.plugins import plugins_command
from orchestrator.cli.report import report_command
from orchestrator.cli.trace import trace
from orchestrator.errors import FbenchError


class FbenchGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FbenchError as exc:
            click.echo(f"fbench: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=FbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fbench")
def cli() -> None:
    """Turn real Python repositories into benchmark tasks for coding agents."""


cli.add_command(build_cases_command)
cli.add_command(trace)
cli.add_command(eval_command)
cli.add_command(export_command)
cli.add_command(llm_check_command)
cli.add_command(report_command)
cli.add_command(plugins_command)
cli.add_command(metrics_command)


def main() -> None:
    cli(prog_name="fbench")
