"""featurebench's pytest plugin: test outcomes and per-test call traces as typed records.

PYTEST_DONT_REWRITE: the plugin uses no asserts, and the orchestrator imports
``pytest_featurebench.records`` before inner pytest runs start, so asking pytest
to rewrite an already imported package would only produce a warning.
"""

from __future__ import annotations

__version__ = "0.1.0"
