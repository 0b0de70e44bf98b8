"""One registry per pluggable kind, each mapping a ``type`` name to a component.

Components are declared as entry points in the group ``featurebench.<kind>``:
featurebench's own in its ``pyproject.toml``, a third party's in theirs, so a
new component is one module plus one line of packaging and no change here.
Entry points are read lazily and once per process; a component is imported
only when asked for by its ``type``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from orchestrator.errors import UsageError

# The kinds featurebench knows; a group outside this list is never read.
KINDS: tuple[str, ...] = (
    "environments",
    "stages",
    "exporters",
    "top_selectors",
    "sinks",
    "executors",
)
KINDS += ("hooks", "statement_writers", "graders", "pair_checks")  # job lists and their parts


@dataclass(frozen=True)
class Component:
    kind: str
    type: str
    target: str  # module:attribute, as declared
    origin: str  # the distribution that declared it


class Registry:
    """The components of one kind, keyed by ``type``."""

    def __init__(self, kind: str):
        self.kind = kind
        self._points: dict[str, EntryPoint] = {}
        for point in entry_points(group=f"featurebench.{kind}"):
            # First declaration wins: a plugin cannot silently replace a built-in.
            self._points.setdefault(point.name, point)

    def types(self) -> list[str]:
        return sorted(self._points)

    def get(self, type_name: str) -> Any:
        """The component registered as ``type_name``; a one-line error names the known ones."""
        point = self._points.get(type_name)
        if point is None:
            known = ", ".join(self.types()) or "none"
            raise UsageError(f"unknown {self.kind} type {type_name!r}; known types: {known}")
        return point.load()

    def components(self) -> list[Component]:
        return [
            Component(self.kind, name, point.value, _origin(point))
            for name, point in sorted(self._points.items())
        ]


def _origin(point: EntryPoint) -> str:
    dist = point.dist
    return "unknown" if dist is None else f"{dist.name} {dist.version}"


@cache
def registry(kind: str) -> Registry:
    if kind not in KINDS:
        raise UsageError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
    return Registry(kind)


def all_components() -> list[Component]:
    return [component for kind in KINDS for component in registry(kind).components()]
