"""The ``fbench`` command: a click group whose commands only parse and delegate.

The group's ``invoke`` is the one error boundary: a :class:`FbenchError`
becomes a one-line message on stderr and its exit code (a run directory kept
despite the error goes to stdout, as on success); Ctrl-C exits 130 at once;
anything else is a bug and keeps its traceback. An interrupted run never
exits 0 (see :mod:`orchestrator.pipeline.interrupt`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from orchestrator import __version__
from orchestrator.cli.build_cases import build_cases_command
from orchestrator.cli.build_pairs import build_pairs_command
from orchestrator.cli.cases import cases
from orchestrator.cli.docker import docker_group
from orchestrator.cli.eval import eval_command
from orchestrator.cli.export import export_command
from orchestrator.cli.init import init_command
from orchestrator.cli.llm_check import llm_check_command
from orchestrator.cli.metrics import metrics_command
from orchestrator.cli.plugin_wheel import plugin_wheel_command
from orchestrator.cli.plugins import plugins_command
from orchestrator.cli.report import report_command
from orchestrator.cli.sandbox import sandbox_command
from orchestrator.cli.trace import trace
from orchestrator.errors import FbenchError, Interrupted
from orchestrator.pipeline import interrupt


class FbenchGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FbenchError as exc:
            if exc.run_dir is not None:
                click.echo(exc.run_dir)
            click.echo(f"fbench: error: {exc}", err=True)
            if isinstance(exc, Interrupted):
                _exit_now(exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("fbench: interrupted", err=True)
            _exit_now(Interrupted.exit_code)


def _exit_now(code: int) -> None:
    """Exit without waiting for worker threads to finish their commands.

    Those commands die with us (process.py asks the kernel to signal them);
    every file is written atomically, and the next run removes the temporaries.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.group(cls=FbenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fbench")
def cli() -> None:
    """Turn real Python repositories into benchmark tasks for coding agents."""


cli.add_command(build_cases_command)
cli.add_command(build_pairs_command)
cli.add_command(trace)
cli.add_command(eval_command)
cli.add_command(export_command)
cli.add_command(llm_check_command)
cli.add_command(report_command)
cli.add_command(plugin_wheel_command)
cli.add_command(cases)
cli.add_command(init_command)
cli.add_command(plugins_command)
cli.add_command(metrics_command)
cli.add_command(sandbox_command)
cli.add_command(docker_group)


def main() -> None:
    interrupt.install()  # Ctrl-C and SIGTERM: recorded, then raised; promptly, resumable
    code: int | str | None = 0
    try:
        cli(prog_name="fbench")
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # raised past the group's boundary, as it returned
        code = Interrupted.exit_code
    try:
        interrupt.exit_on_signal(_interrupted)
    except KeyboardInterrupt:  # one still pending as the handlers change: it is recorded
        pass
    # An interrupt lost on the way (raised inside a finalizer, say), or raised where
    # click turns it into "Aborted!" and exit 1: the run still was interrupted.
    if interrupt.requested():
        _interrupted()
    sys.exit(code)


def _interrupted() -> None:
    click.echo("fbench: interrupted", err=True)
    _exit_now(Interrupted.exit_code)
