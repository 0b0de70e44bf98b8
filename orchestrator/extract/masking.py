"""Masking: take a feature's code out of a repository, keep every other byte.

A mask removes functions, classes and methods, then their names from imports in
every file (following re-exports) and from ``__all__``. Edits are textual, at AST
positions, so everything else survives byte for byte. :mod:`orchestrator.extract.references`
and :mod:`orchestrator.extract.agent_views` build on this module.
"""

from __future__ import annotations

import ast
import functools
import itertools
import keyword
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from orchestrator.errors import FbenchError


class MaskError(FbenchError):
    """An object to mask is missing, or a file cannot be parsed before or after masking."""


@dataclass(frozen=True, order=True)
class Target:
    """An object to remove: a module-level function or class, or a method."""

    path: str
    qualname: str


@dataclass(frozen=True)
class Removed:
    """The lines a target occupied, decorators included, and their original text."""

    target: Target
    start: int
    end: int
    source: str


@dataclass(frozen=True)
class Masked:
    """The changed files of a mask, what it removed, and the names it unbound."""

    files: dict[str, str]
    removed: list[Removed]
    dropped_names: dict[str, set[str]]
    # path -> {dropped name: its name where defined}, for re-exports under another name
    renamed: dict[str, dict[str, str]] = field(default_factory=dict)


Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
Edit = tuple[int, int, str]  # character offsets [start, end) and the replacement text
Unit = list[ast.stmt]  # consecutive statements deleted as one span (a property and its setter)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# Blocks whose definitions still bind names of the enclosing module or class.
_TRANSPARENT = (ast.If, ast.Try, ast.TryStar, ast.With, ast.AsyncWith)
_OVERLOAD = {"overload", "typing.overload", "typing_extensions.overload"}
# The tokenizer's line ends; str.splitlines also splits on \f and \u2028, shifting lines.
_PARSING = threading.Lock()
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def module_name(path: str, paths: set[str]) -> str | None:
    """The dotted name of the module at ``path``: its root is the first folder without __init__."""
    *dirs, filename = path.split("/")
    if not filename.endswith(".py"):
        return None
    names = [filename[:-3]]
    if names == ["__init__"]:
        if not dirs:
            return None
        names = [dirs.pop()]
    while dirs and "/".join([*dirs, "__init__.py"]) in paths:
        names.insert(0, dirs.pop())
    if not all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
        return None
    return ".".join(names)


class SourceText:
    """A module's text, its lines as the tokenizer counts them, and its AST."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines: list[str] = _LINE.findall(text)
        self._starts = list(itertools.accumulate((len(line) for line in self.lines), initial=0))
        try:
            self.tree = parse(text, path)
        except (SyntaxError, ValueError) as exc:
            raise MaskError(f"{path}: cannot parse: {exc}") from None

    def offset(self, lineno: int, col: int) -> int:
        """The character offset of an AST position (whose column counts UTF-8 bytes)."""
        if lineno > len(self.lines):
            return len(self.text)
        prefix = self.lines[lineno - 1].encode()[:col].decode(errors="ignore")
        return self._starts[lineno - 1] + len(prefix)

    def line_start(self, lineno: int) -> int:
        return self._starts[min(lineno, len(self.lines) + 1) - 1]

    def start(self, node: ast.AST) -> int:
        return self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]

    def end(self, node: ast.AST) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def eol(self, lineno: int) -> str:
        line = self.lines[lineno - 1] if lineno <= len(self.lines) else ""
        return line[len(line.rstrip("\r\n")) :] or "\n"


def parse(text: str, path: str = "<string>") -> ast.Module:
    # CPython 3.11's parser keeps its recursion depth per interpreter, not per thread:
    # two threads parsing at once fail with "AST constructor recursion depth mismatch".
    with _PARSING:
        return ast.parse(text, filename=path)


def apply_edits(text: str, edits: list[Edit]) -> str:
    """``text`` with ``edits`` made; an edit inside one already made is dropped."""
    out: list[str] = []
    pos = 0
    # Insertions first at a position, then the longest edit, so nested edits come after.
    for start, end, new in sorted(set(edits), key=lambda e: (e[0], e[0] != e[1], -e[1], e[2])):
        if start < pos:
            # Inside an edit already made; overlapping deletions delete their union.
            pos = max(pos, end) if not new else pos
            continue
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists nested directly in ``stmt``."""
    found = [getattr(stmt, field, None) for field in ("body", "orelse", "finalbody")]
    out = [b for b in found if isinstance(b, list) and b and isinstance(b[0], ast.stmt)]
    if isinstance(stmt, ast.Try | ast.TryStar):
        out += [handler.body for handler in stmt.handlers]
    if isinstance(stmt, ast.Match):
        out += [case.body for case in stmt.cases]
    return out


def scope_statements(body: list[ast.stmt]) -> Iterator[tuple[ast.stmt, list[ast.stmt]]]:
    """Statements of one scope with their block, looking into ``if``/``try``/``with``."""
    for stmt in body:
        yield stmt, body
        if isinstance(stmt, _TRANSPARENT):
            for block in blocks(stmt):
                yield from scope_statements(block)


def find_definition(
    tree: ast.Module, qualname: str
) -> tuple[list[Definition], list[ast.ClassDef]] | None:
    """The definitions making up ``qualname`` (the last one wins) and its enclosing classes."""
    body = tree.body
    classes: list[ast.ClassDef] = []
    parts = qualname.split(".")
    for depth, part in enumerate(parts):
        found = [
            (s, b) for s, b in scope_statements(body) if isinstance(s, _DEFS) and s.name == part
        ]
        if not found:
            return None
        node, block = max(found, key=lambda pair: pair[0].lineno)
        assert isinstance(node, _DEFS)
        if depth == len(parts) - 1:
            return _with_companions(node, block), classes
        if not isinstance(node, ast.ClassDef):
            return None
        classes.append(node)
        body = node.body
    return None


def _with_companions(node: Definition, block: list[ast.stmt]) -> list[Definition]:
    """``node`` and the same-named definitions before it that belong to it: a property's
    getter before its ``@name.setter``, ``@overload`` stubs before an implementation."""
    chain: list[Definition] = [node]
    index = next(i for i, stmt in enumerate(block) if stmt is node)
    accessors = {f"{node.name}.{a}" for a in ("setter", "getter", "deleter")}
    for prev in reversed(block[:index]):
        if not isinstance(prev, _DEFS) or prev.name != node.name:
            break
        decorators = {ast.unparse(d) for d in [*chain[0].decorator_list, *prev.decorator_list]}
        if not decorators & (accessors | _OVERLOAD):
            break
        chain.insert(0, prev)
    return chain


def first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def locate(source: str, qualname: str, path: str = "<string>") -> Removed | None:
    """The lines of the definition ``qualname`` in ``source``, or None when there is none."""
    src = SourceText(source, path)
    found = find_definition(src.tree, qualname)
    return None if found is None else _removed(src, Target(path, qualname), found[0])


def _removed(src: SourceText, target: Target, nodes: list[Definition]) -> Removed:
    start = first_line(nodes[0])
    end = nodes[-1].end_lineno or nodes[-1].lineno
    return Removed(target, start, end, "".join(src.lines[start - 1 : end]))


def code_lines(source: str) -> int:
    """Non-blank, non-comment lines: what the line budget and ``lines`` count."""
    lines = (line.strip() for line in source.splitlines())
    return sum(1 for line in lines if line and not line.startswith("#"))


def removed_lines(removed: list[Removed]) -> int:
    """Code lines across the removed spans."""
    return sum(code_lines(r.source) for r in removed)


class Repo:
    """Every parseable module of a repository, with module names and import resolution."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        paths = set(files)
        self.names: dict[str, str] = {}
        self.modules: dict[str, str] = {}
        for path in sorted(paths):
            name = module_name(path, paths)
            if name is not None:
                self.names[path] = name
                self.modules.setdefault(name, path)
        self._sources: dict[str, SourceText | None] = {}

    @staticmethod
    def of(files: dict[str, str]) -> Repo:
        """The repository of ``files``, parsed once: callers ask about the same files often."""
        return _repo(tuple(sorted(files.items())))

    def source(self, path: str) -> SourceText:
        """The parsed module at ``path``; MaskError when it is missing or does not parse."""
        if path not in self.files:
            raise MaskError(f"{path}: no such file in the repository")
        return self._parse(path) or SourceText(self.files[path], path)  # the latter raises

    def parsed(self) -> Iterator[SourceText]:
        """Every module that parses (not Python 2 fixtures, say), by path."""
        yield from (src for path in sorted(self.files) if (src := self._parse(path)) is not None)

    def _parse(self, path: str) -> SourceText | None:
        if path not in self._sources:
            try:
                self._sources[path] = SourceText(self.files[path], path)
            except MaskError:
                self._sources[path] = None
        return self._sources[path]

    def imported_module(self, path: str, node: ast.ImportFrom) -> str | None:
        """The dotted name ``node`` imports from, relative imports resolved against ``path``."""
        if node.level == 0:
            return node.module
        own = self.names.get(path)
        if own is None:
            return None
        package = own.split(".") if path.endswith("__init__.py") else own.split(".")[:-1]
        keep = len(package) - (node.level - 1)
        parts = [*package[: max(keep, 0)], *([node.module] if node.module else [])]
        return ".".join(parts) if keep >= 0 and parts else None

    def imported_path(self, path: str, node: ast.ImportFrom) -> str | None:
        return self.modules.get(self.imported_module(path, node) or "")


@functools.lru_cache(maxsize=2)
def _repo(items: tuple[tuple[str, str], ...]) -> Repo:
    return Repo(dict(items))


def from_imports(body: list[ast.stmt], top: bool = True) -> Iterator[tuple[ast.ImportFrom, bool]]:
    """Every ``from ... import`` in ``body``, with whether it binds at module level."""
    for stmt in body:
        if isinstance(stmt, ast.ImportFrom):
            yield stmt, top
        for block in blocks(stmt):
            yield from from_imports(block, top and not isinstance(stmt, _DEFS))


def mask(files: dict[str, str], targets: list[Target]) -> Masked:
    """Remove ``targets`` from ``files`` and every import and ``__all__`` entry of them."""
    repo = Repo.of(files)
    removed: list[Removed] = []
    deleted: dict[str, list[Unit]] = {}
    for target in targets:
        src = repo.source(target.path)
        found = find_definition(src.tree, target.qualname)
        if found is None:
            raise MaskError(f"{target.path}: no {target.qualname} to mask")
        removed.append(_removed(src, target, found[0]))
        deleted.setdefault(target.path, []).append(list(found[0]))
    dropped = _dropped_names(repo, targets)
    changed: dict[str, str] = {}
    for src in repo.parsed():
        text = _masked_text(repo, src, deleted.get(src.path, []), dropped)
        if text != src.text:
            changed[src.path] = text
            SourceText(text, f"{src.path} (masked)")  # raises MaskError when it does not parse
    return Masked(changed, removed, *_names_and_renames(dropped))


def names_of(files: dict[str, str], targets: list[Target]) -> Masked:
    """The names ``targets`` would take from every module were they removed (re-exports
    included), removing nothing: only ``dropped_names`` and ``renamed`` are filled."""
    module_level = [t for t in targets if "." not in t.qualname]
    return Masked({}, [], *_names_and_renames(_dropped_names(Repo.of(files), module_level)))


def _names_and_renames(
    dropped: dict[str, dict[str, str]],
) -> tuple[dict[str, set[str]], dict[str, dict[str, str]]]:
    renamed = {p: {n: o for n, o in lost.items() if n != o} for p, lost in dropped.items()}
    names = {path: set(dropped[path]) for path in sorted(dropped)}
    return names, {p: r for p, r in sorted(renamed.items()) if r}


def _dropped_names(repo: Repo, targets: list[Target]) -> dict[str, dict[str, str]]:
    """Names each file loses (to their names where defined), re-exports to a fixed point."""
    dropped: dict[str, dict[str, str]] = {}
    for target in targets:
        if "." not in target.qualname:
            dropped.setdefault(target.path, {})[target.qualname] = target.qualname
    imports = [
        (src.path, node, repo.imported_path(src.path, node))
        for src in repo.parsed()
        for node, module_level in from_imports(src.tree.body)
        if module_level
    ]
    changed = True
    while changed:
        changed = False
        for path, node, origin in imports:
            lost = dropped.get(origin or "", {})
            for alias in node.names if lost else []:
                if alias.name == "*":
                    bound = {n: o for n, o in lost.items() if not n.startswith("_")}
                elif alias.name in lost:
                    bound = {alias.asname or alias.name: lost[alias.name]}
                else:
                    continue
                new = {n: o for n, o in bound.items() if n not in dropped.get(path, {})}
                if new:
                    dropped.setdefault(path, {}).update(new)
                    changed = True
    return dropped


def _masked_text(
    repo: Repo, src: SourceText, deleted: list[Unit], dropped: dict[str, dict[str, str]]
) -> str:
    deleted = list(deleted)
    edits: list[Edit] = []
    for node, _ in from_imports(src.tree.body):
        origin = repo.imported_path(src.path, node)
        lost = dropped.get(origin or "", {})
        gone = [i for i, alias in enumerate(node.names) if alias.name in lost]
        if len(gone) == len(node.names):
            _remove_statement(src, node, deleted, edits)
        elif gone:
            edits += drop_items(src, node.names, gone)
    _all_edits(src, set(dropped.get(src.path, {})), deleted, edits)
    edits += _deletions(src, deleted)
    return apply_edits(src.text, edits)


def _remove_statement(
    src: SourceText, stmt: ast.stmt, deleted: list[Unit], edits: list[Edit]
) -> None:
    """Delete ``stmt``'s lines, or put ``pass`` in its place when it shares a line."""
    before = src.text[src.line_start(stmt.lineno) : src.start(stmt)]
    after = src.text[src.end(stmt) : src.line_start((stmt.end_lineno or stmt.lineno) + 1)]
    if not before.strip() and (not after.strip() or after.strip().startswith("#")):
        deleted.append([stmt])
    else:
        edits.append((src.start(stmt), src.end(stmt), "pass"))


def drop_items(
    src: SourceText, items: list[ast.alias] | list[ast.expr], gone: list[int]
) -> list[Edit]:
    """Edits removing the items at ``gone`` (not all) from a comma-separated list: a run of
    them up to the next kept item or, at the end, from the last kept one."""
    edits: list[Edit] = []
    gone_set = set(gone)
    for first in gone:
        if first - 1 in gone_set:
            continue
        last = first
        while last + 1 in gone_set:
            last += 1
        if last + 1 < len(items):
            edits.append((src.start(items[first]), src.start(items[last + 1]), ""))
        else:
            edits.append((src.end(items[first - 1]), src.end(items[last]), ""))
    return edits


def _all_edits(src: SourceText, lost: set[str], deleted: list[Unit], edits: list[Edit]) -> None:
    """Forget ``lost`` names in ``__all__`` literals, ``+=``, ``extend`` and ``append``."""
    if not lost:
        return
    for stmt, _ in scope_statements(src.tree.body):
        value = _all_value(stmt)
        if value is None:
            continue
        if isinstance(stmt, ast.Expr) and ast.unparse(stmt).startswith("__all__.append("):
            if isinstance(value, ast.Constant) and value.value in lost:
                _remove_statement(src, stmt, deleted, edits)
            continue
        for node in ast.walk(value):
            if isinstance(node, ast.List | ast.Tuple):
                edits += _literal_edits(src, node, lost)


def _all_value(stmt: ast.stmt) -> ast.expr | None:
    """The value ``stmt`` puts into ``__all__``, if it is an ``__all__`` statement."""
    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
        names = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return stmt.value if "__all__" in [ast.unparse(name) for name in names] else None
    call = ast.unparse(stmt).split("(")[0] if isinstance(stmt, ast.Expr) else ""
    if call in ("__all__.extend", "__all__.append") and stmt.value.args:  # type: ignore[attr-defined]
        return stmt.value.args[0]  # type: ignore[attr-defined, no-any-return]
    return None


def _literal_edits(src: SourceText, node: ast.List | ast.Tuple, lost: set[str]) -> list[Edit]:
    gone = [i for i, e in enumerate(node.elts) if isinstance(e, ast.Constant) and e.value in lost]
    if not gone:
        return []
    empty = "()" if isinstance(node, ast.Tuple) else "[]"
    if len(gone) == len(node.elts):
        return [(src.start(node), src.end(node), empty)]
    kept = [src.text[src.start(e) : src.end(e)] for i, e in enumerate(node.elts) if i not in gone]
    if isinstance(node, ast.Tuple) and len(kept) == 1:
        # ("a", "b") minus "b" must stay a tuple, not become the string ("a").
        return [(src.start(node), src.end(node), f"({kept[0]},)")]
    return drop_items(src, node.elts, gone)


def _deletions(src: SourceText, deleted: list[Unit]) -> list[Edit]:
    """Whole-line deletions, with ``pass`` as the first statement of any block left empty."""
    ids = {id(stmt) for unit in deleted for stmt in unit}
    firsts = {id(block[0]) for block in _emptied_blocks(src.tree.body, ids)}
    edits: list[Edit] = []
    for unit in deleted:
        start, end = first_line(unit[0]), unit[-1].end_lineno or unit[-1].lineno
        if id(unit[0]) in firsts:
            line = src.lines[start - 1]
            text = line[: len(line) - len(line.lstrip())] + "pass" + src.eol(end)
            edits.append((src.line_start(start), src.line_start(end + 1), text))
            continue
        if start == 1 or src.lines[start - 2].rstrip().endswith(":"):
            # First in its block: blank lines after it would open the block.
            while end < len(src.lines) and not src.lines[end].strip():
                end += 1
        elif end >= len(src.lines) or not src.lines[end].strip():
            # Take the blank lines before it, so its neighbours keep one gap, not two.
            while start > 1 and not src.lines[start - 2].strip():
                start -= 1
        edits.append((src.line_start(start), src.line_start(end + 1), ""))
    return edits


def _emptied_blocks(body: list[ast.stmt], ids: set[int]) -> Iterator[list[ast.stmt]]:
    for stmt in body:
        if id(stmt) in ids:
            continue
        for block in blocks(stmt):
            if all(id(inner) in ids for inner in block):
                yield block
            else:
                yield from _emptied_blocks(block, ids)
