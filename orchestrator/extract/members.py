"""The members of a removed class that code outside it uses by name.

A class stub shows public methods and dunders only: private ones are how the
class works, not what it offers. But tests and the library's kept code
sometimes use a private member by name (``result._repr_html_()``,
``parser._search_re.search(...)``, ``hasattr(obj, "_fields")``), and read
instance attributes that no signature shows (``Parser(fmt)._expression``,
``result.fixed``). An agent writing the class from its stub alone would leave
them out, and those tests would fail: so the stub shows those private members
too, and the statement names those attributes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field

from orchestrator.extract.masking import MaskError, SourceText, find_definition, parse

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Members:
    """Of one class: the private members to stub, and the instance attributes to name."""

    private: set[str] = field(default_factory=set)
    attributes: list[str] = field(default_factory=list)


def used_names(texts: Iterable[str]) -> set[str]:
    """Attribute names read (``x.name``) and identifier strings (``getattr(x, "name")``)
    in the code of ``texts``; texts that do not parse say nothing."""
    names: set[str] = set()
    for text in texts:
        try:
            tree = parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names |= {node.value} if node.value.isidentifier() else set()
    return names


def class_members(source: str, qualname: str, path: str, used: set[str]) -> Members:
    """What of class ``qualname`` the names in ``used`` (code outside it) reach; nothing
    when ``qualname`` is not a class."""
    try:
        found = find_definition(SourceText(source, path).tree, qualname)
    except MaskError:
        return Members()
    if found is None or not isinstance(found[0][-1], ast.ClassDef):
        return Members()
    cls = found[0][-1]
    defined = {s.name for s in cls.body if isinstance(s, _DEFS)}
    private = {n for n in defined if n.startswith("_") and not n.startswith("__")}
    attributes = _instance_attributes(cls) - defined
    return Members(private & used, sorted(attributes & used))


def _instance_attributes(cls: ast.ClassDef) -> set[str]:
    """Names the class's methods assign on ``self`` (``self.fixed = ...``), dunders and
    name-mangled ones aside."""
    found: set[str] = set()
    for method in (s for s in cls.body if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)):
        this = method.args.args[0].arg if method.args.args else None
        for node in ast.walk(method):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id == this
                and not node.attr.startswith("__")
            ):
                found.add(node.attr)
    return found


def attributes_note(members: Members) -> list[str]:
    """The comment line under a class stub naming the instance attributes others read."""
    if not members.attributes:
        return []
    said = ", ".join(members.attributes)
    return [f"# Its instances have these attributes, which other code reads: {said}"]
