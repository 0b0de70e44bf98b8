"""featurebench's orchestrator: the ``fbench`` command and the case-building pipeline.

PYTEST_DONT_REWRITE: this package is installed beside the pytest plugin and
needs no assertion rewriting.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-featurebench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
