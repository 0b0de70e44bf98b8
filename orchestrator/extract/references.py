"""Who refers to what: a feature's boundary with the rest of its repository.

Before a mask: which import-time code refers to the targets (the data stage
empties or keeps those, since removing them would break importing), and which
private helpers only the targets use (they go with them). Builds on
:mod:`orchestrator.extract.masking`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator

from orchestrator.extract.masking import (
    Definition,
    MaskError,
    Repo,
    SourceText,
    Target,
    find_definition,
    first_line,
    from_imports,
    scope_statements,
)

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_ORDERING = ("__lt__", "__le__", "__gt__", "__ge__")  # what total_ordering looks for
_MAX_REEXPORTS = 20  # bounds re-export chains, so an import cycle cannot loop forever

# Blocks that do not run on import: scripts' main blocks, type-checking imports.
_NOT_AT_IMPORT = {"__name__ == '__main__'", "TYPE_CHECKING", "typing.TYPE_CHECKING"}
Scope = dict[str, str]  # class-body name -> dotted name of what it binds


def import_time_uses(files: dict[str, str], targets: list[Target]) -> dict[Target, list[str]]:
    """For each target, the "path:line" places where code run at import refers to it.

    A target's own code does not count (it goes with it); another target's does, so
    asking about many targets at once answers as asking about each alone would.
    """
    repo = Repo.of(files)
    wanted: dict[str, list[Target]] = {}
    spans: dict[Target, tuple[int, int]] = {}
    for target in targets:
        src = repo.source(target.path)
        found = find_definition(src.tree, target.qualname)
        if found is None:
            raise MaskError(f"{target.path}: no {target.qualname}")
        module = repo.names.get(target.path, f"<{target.path}>")
        wanted.setdefault(f"{module}.{target.qualname}", []).append(target)
        spans[target] = _span(found[0])
    uses: dict[Target, set[tuple[str, int]]] = {target: set() for target in targets}
    resolver = _Resolver(repo)
    for src in repo.parsed():
        for node, dotted in resolver.import_time_references(src):
            line = node.lineno
            for target in wanted.get(resolver.canonical(dotted), []):
                if not (src.path == target.path and _inside(line, [spans[target]])):
                    uses[target].add((src.path, line))
    for target in targets:
        uses[target] |= _ordering_uses(repo.source(target.path), target)
    return {target: [f"{p}:{line}" for p, line in sorted(found)] for target, found in uses.items()}


def _ordering_uses(src: SourceText, target: Target) -> set[tuple[str, int]]:
    """``functools.total_ordering`` needs the ordering dunders it finds while importing."""
    owner, _, name = target.qualname.rpartition(".")
    found = find_definition(src.tree, owner) if owner and name in _ORDERING else None
    if found is None or not isinstance(found[0][-1], ast.ClassDef):
        return set()
    return {
        (src.path, decorator.lineno)
        for decorator in found[0][-1].decorator_list
        if ast.unparse(decorator).rsplit(".", 1)[-1] == "total_ordering"
    }


def _span(nodes: list[Definition]) -> tuple[int, int]:
    return first_line(nodes[0]), nodes[-1].end_lineno or nodes[-1].lineno


def _inside(line: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= line <= end for start, end in spans)


class _Resolver:
    """Dotted names of expressions, through imports and re-exports."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._bindings: dict[str, dict[str, str]] = {}

    def bindings(self, path: str) -> dict[str, str]:
        """Names that module-level imports of ``path`` bind, to the dotted name they import."""
        if path not in self._bindings:
            found: dict[str, str] = {}
            try:
                tree = self.repo.source(path).tree
            except MaskError:  # a module that does not parse binds nothing we can follow
                tree = ast.Module(body=[], type_ignores=[])
            for stmt, _ in scope_statements(tree.body):
                if isinstance(stmt, ast.Import):
                    for alias in stmt.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        found[bound] = alias.name if alias.asname else bound
            for node, module_level in from_imports(tree.body):
                module = self.repo.imported_module(path, node)
                for alias in node.names if module and module_level else []:
                    found[alias.asname or alias.name] = f"{module}.{alias.name}"
            self._bindings[path] = found
        return self._bindings[path]

    def canonical(self, dotted: str) -> str:
        """``dotted`` with re-exports followed back to the module that defines the name."""
        for _ in range(_MAX_REEXPORTS):
            parts = dotted.split(".")
            cut = next(
                (
                    n
                    for n in range(len(parts) - 1, 0, -1)
                    if ".".join(parts[:n]) in self.repo.modules
                ),
                None,
            )
            if cut is None:
                return dotted
            path = self.repo.modules[".".join(parts[:cut])]
            origin = self.bindings(path).get(parts[cut]) or self._through_star(path, parts[cut])
            if origin is None:
                return dotted
            dotted = ".".join([origin, *parts[cut + 1 :]])
        return dotted

    def _through_star(self, path: str, name: str) -> str | None:
        """``module.name`` for the first ``from module import *`` of ``path`` that has it."""
        try:
            tree = self.repo.source(path).tree
        except MaskError:
            return None
        for node, module_level in from_imports(tree.body):
            if not module_level or [a.name for a in node.names] != ["*"]:
                continue
            module = self.repo.imported_module(path, node)
            source = self.repo.modules.get(module or "")
            if module and source and name in self._module_names(source):
                return f"{module}.{name}"
        return None

    def _module_names(self, path: str) -> set[str]:
        """Names a module binds at its top level: definitions, assignments, imports."""
        try:
            tree = self.repo.source(path).tree
        except MaskError:
            return set()
        names = set(self.bindings(path))
        for stmt, _ in scope_statements(tree.body):
            if isinstance(stmt, _DEFS):
                names.add(stmt.name)
            elif isinstance(stmt, ast.Assign):
                names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        return names

    def import_time_references(self, src: SourceText) -> Iterator[tuple[ast.expr, str]]:
        """Every name or attribute chain evaluated at import, with its dotted name."""
        module = self.repo.names.get(src.path, f"<{src.path}>")
        bindings = self.bindings(src.path)
        future = _postponed_annotations(src.tree)
        for root, scope in _roots(src.tree.body, future, module, {}):
            for node in _evaluated(root):
                if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                    dotted = _dotted(node, scope, bindings, module)
                    if dotted is not None:
                        yield node, dotted


def _postponed_annotations(tree: ast.Module) -> bool:
    return any(
        isinstance(stmt, ast.ImportFrom)
        and stmt.module == "__future__"
        and any(alias.name == "annotations" for alias in stmt.names)
        for stmt in tree.body
    )


def _dotted(node: ast.expr, scope: Scope, bindings: dict[str, str], module: str) -> str | None:
    if isinstance(node, ast.Name):
        return scope.get(node.id) or bindings.get(node.id) or f"{module}.{node.id}"
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, scope, bindings, module)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _roots(
    nodes: Iterable[ast.AST], future: bool, prefix: str, scope: Scope
) -> Iterator[tuple[ast.AST, Scope]]:
    """Expressions evaluated when the module is imported, with the class scope they see."""
    for child in nodes:
        if isinstance(child, ast.Import | ast.ImportFrom):
            continue  # the mask rewrites imports; they are not uses
        if isinstance(child, ast.If) and ast.unparse(child.test) in _NOT_AT_IMPORT:
            continue
        if isinstance(child, _FUNCTIONS):
            yield from ((expr, scope) for expr in _signature(child, future))
        elif isinstance(child, ast.ClassDef):
            header = [*child.decorator_list, *child.bases, *(k.value for k in child.keywords)]
            yield from ((expr, scope) for expr in header)
            dotted = f"{prefix}.{child.name}"
            names = [s.name for s, _ in scope_statements(child.body) if isinstance(s, _DEFS)]
            inner = {name: f"{dotted}.{name}" for name in names}
            yield from _roots(child.body, future, dotted, inner)
        elif isinstance(child, ast.AnnAssign) and future:
            yield from ((expr, scope) for expr in (child.target, child.value) if expr is not None)
        elif isinstance(child, ast.expr | ast.pattern):
            yield child, scope
        else:
            yield from _roots(ast.iter_child_nodes(child), future, prefix, scope)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, future: bool) -> list[ast.expr]:
    """The parts of a ``def`` evaluated when it runs: decorators, defaults, annotations."""
    args = node.args
    found = [*node.decorator_list, *args.defaults, *(d for d in args.kw_defaults if d)]
    if not future:
        every = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
        found += [a.annotation for a in every if a is not None and a.annotation is not None]
        found += [node.returns] if node.returns is not None else []
    return found


def _evaluated(root: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``root`` evaluated with it: a lambda's body runs later."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.Lambda):
            stack += [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
        else:
            stack += ast.iter_child_nodes(node)


def unique_helpers(
    files: dict[str, str], targets: list[Target], candidates: set[str]
) -> list[Target]:
    """Module-level helpers in ``candidates`` that only the targets (and such helpers) use."""
    repo = Repo.of(files)
    spans: dict[str, list[tuple[int, int]]] = {}
    for target in targets:
        found = find_definition(repo.source(target.path).tree, target.qualname)
        if found is None:
            raise MaskError(f"{target.path}: no {target.qualname}")
        spans.setdefault(target.path, []).append(_span(found[0]))
    pool = _helper_pool(repo, targets, candidates)
    mentions = _mentions(repo)
    accepted: list[tuple[str, int, Target]] = []
    grew = True
    while grew:
        grew = False
        for helper, span in list(pool.items()):
            if _only_used_inside(helper, span, mentions.get(helper.qualname, []), spans):
                accepted.append((helper.path, span[0], helper))
                spans.setdefault(helper.path, []).append(span)
                del pool[helper]
                grew = True
    return [helper for _, _, helper in sorted(accepted)]


def _helper_pool(
    repo: Repo, targets: list[Target], candidates: set[str]
) -> dict[Target, tuple[int, int]]:
    """Module-level definitions that could be private helpers, with their spans."""
    taken = {(t.path, t.qualname.split(".")[0]) for t in targets}
    imported: set[tuple[str, str]] = set()
    for src in repo.parsed():
        for node, _ in from_imports(src.tree.body):
            origin = repo.imported_path(src.path, node)
            if origin is not None and origin != src.path:
                imported.update((origin, alias.name) for alias in node.names)
    pool: dict[Target, tuple[int, int]] = {}
    for path in sorted(candidates & set(repo.files)):
        try:
            tree = repo.source(path).tree
        except MaskError:
            continue  # a module that does not parse cannot be masked either
        listed = _listed_in_all(tree)
        last: dict[str, Definition] = {}
        for stmt, _ in scope_statements(tree.body):
            if isinstance(stmt, _DEFS):
                last[stmt.name] = stmt
        for name, definition in last.items():
            dunder = name.startswith("__") and name.endswith("__")
            if dunder or name in listed or (path, name) in taken or (path, name) in imported:
                continue
            pool[Target(path, name)] = _span([definition])
    return pool


def _listed_in_all(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for stmt, _ in scope_statements(tree.body):
        if "__all__" in {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}:
            found |= {
                n.value
                for n in ast.walk(stmt)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            }
    return found


Mention = tuple[str, int, bool]  # path, line, whether as an attribute (`x.name`)


def _mentions(repo: Repo) -> dict[str, list[Mention]]:
    """Every name used in the repository as a ``Name`` or an attribute, with where."""
    found: dict[str, list[Mention]] = {}
    for src in repo.parsed():
        for node in ast.walk(src.tree):
            if isinstance(node, ast.Name):
                found.setdefault(node.id, []).append((src.path, node.lineno, False))
            elif isinstance(node, ast.Attribute):
                line = node.end_lineno or node.lineno
                found.setdefault(node.attr, []).append((src.path, line, True))
    return found


def _only_used_inside(
    helper: Target,
    span: tuple[int, int],
    mentions: list[Mention],
    spans: dict[str, list[tuple[int, int]]],
) -> bool:
    """Whether every mention is in removed code or the helper itself, and one is in removed code."""
    used = False
    for path, line, attribute in mentions:
        if _inside(line, spans.get(path, [])):
            # A bare name in another module is some other object of the same name.
            used = used or attribute or path == helper.path
        elif not (path == helper.path and span[0] <= line <= span[1]):
            return False
    return used
