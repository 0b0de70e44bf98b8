"""featurebench's orchestrator: the ``fbench`` command and the case-building pipeline.

PYTEST_DONT_REWRITE: this package is installed beside the pytest plugin and
needs no assertion rewriting.
"""

from __future__ import annotations

from pytest_featurebench import __version__

__all__ = ["__version__"]
