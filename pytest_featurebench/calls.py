"""What a tracer hands back for one unit: the project functions it ran, with depths.

Shared by the tracer protocol (:mod:`pytest_featurebench.tracing`), its backends
and the recorder, so that none of them imports another for these types.
"""

from __future__ import annotations

from typing import Dict  # noqa: UP035 - the plugin runs on Python 3.9+

from pytest_featurebench.scope import FunctionId

Depths = Dict[FunctionId, int]  # noqa: UP006


class PhaseCalls:
    """What one traced unit ran: test calls and import-time calls."""

    __slots__ = ("calls", "imports")

    def __init__(self, calls: Depths, imports: Depths):
        self.calls = calls
        self.imports = imports


def keep_smallest(into: Depths, found: Depths) -> None:
    """Merge ``found`` into ``into``, keeping each function's smallest depth."""
    for function, depth in found.items():
        known = into.get(function)
        if known is None or depth < known:
            into[function] = depth
