"""The ``fbench`` command: a click group whose commands only parse and delegate.

``main()`` is the one error boundary: a :class:`FbenchError` becomes a one-line
message and its exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import click

from orchestrator import __version__
from orchestrator.cli.trace import trace
from orchestrator.errors import FbenchError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fbench")
def cli() -> None:
    """Turn real Python repositories into benchmark tasks for coding agents."""


cli.add_command(trace)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="fbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except FbenchError as exc:
        click.echo(f"fbench: error: {exc}", err=True)
        sys.exit(exc.exit_code)
