"""The exceptions of featurebench, rooted in one class.

::

    FbenchError                 anything featurebench reports to the user
    ├── UsageError              bad input: an option, a file, a spec key (exit 2)
    │   ├── RecordsReadError    a records file that cannot be read
    │   └── SpecError           one or more bad specs, one line each
    ├── CommandError            an external command failed (exit 1)
    │   └── CommandTimeout      ... or ran out of time
    ├── StageError              a stage cannot go on for a whole spec (exit 1)
    ├── RunFailed               the run ended, but a spec or an item stopped on an error (exit 1)
    └── Interrupted             Ctrl-C or SIGTERM; says how to resume (exit 130)

The CLI group's ``invoke`` is the only place that turns them into exit codes
and one-line messages; anything else is a bug and keeps its traceback. A
failure of one item (a test file, a case) is not an exception that escapes:
it is recorded with its reason in the run's status files.
"""

from __future__ import annotations

from pathlib import Path


class FbenchError(Exception):
    """Root of every error featurebench reports to the user."""

    exit_code = 1

    def __init__(self, message: str = "", *, run_dir: Path | None = None):
        super().__init__(message)
        self.run_dir = run_dir  # a run directory kept despite the error: printed on stdout


class UsageError(FbenchError):
    """Bad input; the message names the file or option, and the fix."""

    exit_code = 2


class RecordsReadError(UsageError):
    """A records file that is missing or not in the plugin's format."""


class SpecError(UsageError):
    """Every problem found in a specs file, one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class CommandError(FbenchError):
    """An external command exited with an error; the message names it and its log."""

    def __init__(self, message: str, returncode: int | None = None, output: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.output = output


class CommandTimeout(CommandError):
    """An external command ran past its time limit and was killed."""


class StageError(FbenchError):
    """A stage cannot go on for a spec (its repository cannot be fetched, say)."""


class RunFailed(FbenchError):
    """A run that ended with errors: its summary lists them; the message says how to go on."""


class Interrupted(FbenchError):
    """The user stopped the run; the message names the run directory and how to resume it."""

    exit_code = 130
