"""The exceptions of featurebench, rooted in one class.

::

    FbenchError                 anything featurebench reports to the user
    ├── UsageError              bad input: a file, an option, a spec key (exit 2)
    └── RecordsReadError        a records file that cannot be read (exit 2)

The CLI's ``main()`` is the only place that turns them into exit codes and
one-line messages; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FbenchError(Exception):
    """Root of every error featurebench reports to the user."""

    exit_code = 1


class UsageError(FbenchError):
    """Bad input; the message names the file or option, and the fix."""

    exit_code = 2


class RecordsReadError(UsageError):
    """A records file that is missing or not in the plugin's format."""
