"""What the agent reads: interface stubs and, for level 2, rewritten test imports.

The stubs show a removed object's decorators, full signature, bases and
docstring with ``...`` for bodies; the level 2 rewrite makes tests take the
removed names from the agent's own package. Builds on :mod:`orchestrator.extract.masking`.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Collection

from orchestrator.extract.masking import (
    Definition,
    Edit,
    MaskError,
    SourceText,
    Target,
    apply_edits,
    find_definition,
    locate,
    module_name,
    parse,
    scope_statements,
)

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
AGENT_PACKAGE = "agent_code"  # the package a level 2 agent writes


def interface_stub(
    source: str, qualname: str, path: str, fallback_doc: str = "", members: Collection[str] = ()
) -> str:
    """The signature, decorators and docstring of ``qualname``, bodies as ``...``.

    ``fallback_doc`` stands in for the docstring of an object that has none;
    ``members`` are private members of a class shown all the same (others use them).
    """
    src = SourceText(source, path)
    found = find_definition(src.tree, qualname)
    if found is None:
        raise MaskError(f"{path}: no {qualname}")
    nodes, classes = found
    lines = [f"# {path}"]
    indent = ""
    for cls in classes:
        lines.append(indent + _class_header(cls))
        indent += "    "
    for node in nodes:
        lines += (
            _class_stub(node, indent, fallback_doc, members)
            if isinstance(node, ast.ClassDef)
            else _def_stub(node, indent, fallback_doc)
        )
    return "\n".join(lines)


def _class_header(cls: ast.ClassDef) -> str:
    keywords = [
        f"{k.arg}={ast.unparse(k.value)}" if k.arg else f"**{ast.unparse(k.value)}"
        for k in cls.keywords
    ]
    bases = [ast.unparse(b) for b in cls.bases] + keywords
    return f"class {cls.name}({', '.join(bases)}):" if bases else f"class {cls.name}:"


def _def_stub(
    node: ast.FunctionDef | ast.AsyncFunctionDef, indent: str, fallback_doc: str = ""
) -> list[str]:
    lines = [f"{indent}@{ast.unparse(d)}" for d in node.decorator_list]
    kind = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    lines.append(f"{indent}{kind} {node.name}({ast.unparse(node.args)}){returns}:")
    return [*lines, *_docstring(node, indent + "    ", fallback_doc), f"{indent}    ..."]


def _class_stub(
    cls: ast.ClassDef, indent: str, fallback_doc: str = "", members: Collection[str] = ()
) -> list[str]:
    lines = [f"{indent}@{ast.unparse(d)}" for d in cls.decorator_list]
    lines.append(indent + _class_header(cls))
    inner = indent + "    "
    body = _docstring(cls, inner, fallback_doc)
    for stmt in cls.body:
        if _class_attribute(stmt):  # __slots__, fields and constants are interface too
            body.append(inner + ast.unparse(stmt))
        elif isinstance(stmt, _DEFS) and (_public(stmt.name) or stmt.name in members):
            stub = (
                _class_stub(stmt, inner)
                if isinstance(stmt, ast.ClassDef)
                else _def_stub(stmt, inner)
            )
            body += ["", *stub] if body else stub
    return lines + (body or [inner + "..."])


def _class_attribute(stmt: ast.stmt) -> bool:
    """A public class-level assignment or ``__slots__`` (private ones are implementation)."""
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name)
    if not isinstance(stmt, ast.Assign):
        return False
    names = [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    return len(names) == len(stmt.targets) and all(map(_public, names))


def _public(name: str) -> bool:
    """Public names and every dunder: ``__eq__`` or ``__repr__`` is behaviour tests see."""
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _docstring(node: Definition, indent: str, fallback: str = "") -> list[str]:
    """The docstring of ``node`` (or ``fallback``) as a triple-quoted literal, by lines."""
    doc = ast.get_docstring(node, clean=True) or fallback or None
    if doc is None:
        return []
    if "\\" in doc and '"""' not in doc and not doc.endswith(('"', "\\")):
        quote = 'r"""'  # regex and LaTeX docstrings read better raw than escaped
    else:
        quote = '"""'
        doc = doc.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        doc = doc[:-1] + '\\"' if doc.endswith('"') else doc
    first, *rest = doc.split("\n")
    if not rest:
        return [f'{indent}{quote}{first}"""']
    return [
        f"{indent}{quote}{first}",
        *(indent + line if line else "" for line in rest),
        f'{indent}"""',
    ]


def rewrite_for_agent_code(
    test_source: str,
    removed: dict[str, set[str]],
    package: str = AGENT_PACKAGE,
    renamed: dict[str, dict[str, str]] | None = None,
) -> str:
    """``test_source`` taking the names in ``removed`` (module -> names) from ``package``.

    ``renamed`` (module -> {name: name where defined}, see ``Masked.renamed``) turns
    a re-export under another name back into the name ``package`` defines.
    """
    src = SourceText(test_source, "<test>")
    edits: list[Edit] = []
    for node in ast.walk(src.tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in removed:
            originals = (renamed or {}).get(node.module, {})
            edits += _split_import(src, node, removed[node.module], originals, package)
    modules = _module_bindings(src.tree, removed)
    uses: list[Edit] = []
    for node in ast.walk(src.tree):
        dotted = _dotted_module_attribute(node, modules)
        if dotted is not None:
            module, _, name = dotted.rpartition(".")
            if name in removed.get(module, set()):
                original = (renamed or {}).get(module, {}).get(name, name)
                uses.append((src.start(node), src.end(node), f"{package}.{original}"))
    if uses and package not in modules:
        edits.append(_import_after_imports(src, package))
    text = apply_edits(test_source, edits + uses)
    try:
        parse(text)
    except SyntaxError as exc:
        raise MaskError(f"the rewritten test does not parse: {exc}") from None
    return text


def _alias(alias: ast.alias, originals: dict[str, str] | None = None) -> str:
    """``alias`` as written, or importing the name where defined under the same binding."""
    name = (originals or {}).get(alias.name, alias.name)
    bound = alias.asname or alias.name
    return name if name == bound else f"{name} as {bound}"


def _split_import(
    src: SourceText, node: ast.ImportFrom, names: set[str], originals: dict[str, str], package: str
) -> list[Edit]:
    moved = [a for a in node.names if a.name in names]
    if not moved:
        return []
    kept = [a for a in node.names if a.name not in names]
    text = f"from {package} import {', '.join(_alias(a, originals) for a in moved)}"
    if kept:
        before = src.text[src.line_start(node.lineno) : src.start(node)]
        separator = src.eol(node.lineno) + before if not before.strip() else "; "
        text += f"{separator}from {node.module} import {', '.join(_alias(a) for a in kept)}"
    return [(src.start(node), src.end(node), text)]


def _module_bindings(tree: ast.Module, removed: dict[str, set[str]]) -> dict[str, str]:
    """Names bound to modules anywhere in the test: ``import a.b [as m]``, ``from a import b``."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                found[bound] = alias.name if alias.asname else bound
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in removed and alias.name not in removed.get(node.module, set()):
                    found[alias.asname or alias.name] = full
    return found


def _dotted_module_attribute(node: ast.AST, modules: dict[str, str]) -> str | None:
    """``m.a.b`` as "module.a.b" when ``m`` is bound to a module, else None."""
    if not isinstance(node, ast.Attribute):
        return None
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.insert(0, value.attr)
        value = value.value
    if not isinstance(value, ast.Name) or value.id not in modules:
        return None
    return ".".join([modules[value.id], *parts])


def _import_after_imports(src: SourceText, package: str) -> Edit:
    """An insertion of ``import package`` after the last top-level import."""
    body = src.tree.body
    imports = [s for s in body if isinstance(s, ast.Import | ast.ImportFrom)]
    docstring = (
        body[:1]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
        else []
    )
    after = (imports or docstring or [None])[-1]
    if after is None:
        return (0, 0, f"import {package}\n")
    end = after.end_lineno or after.lineno
    at = src.line_start(end + 1)
    newline = src.eol(end)
    if at == len(src.text) and not src.text.endswith(("\n", "\r")):
        return (at, at, f"{newline}import {package}{newline}")
    return (at, at, f"import {package}{newline}")


def agent_code_init(objects: list[tuple[str, str]], paths: set[str]) -> str:
    """An ``agent_code/__init__.py`` re-exporting the original ``(path, qualname)`` objects:
    the level 2 gold, with which the rewritten tests must pass."""
    lines = []
    for path, qualname in objects:
        module = module_name(path, paths)
        if module is None:
            raise MaskError(f"{path}: not importable as a module, so not re-exportable")
        lines.append(f"from {module} import {qualname}\n")
    return "".join(lines)


def copied_agent_code(files: dict[str, str], objects: list[Target], masked: dict[str, str]) -> str:
    """An ``agent_code/__init__.py`` holding copies of the original ``objects``: what an
    agent told only the interfaces writes. Every other name they use comes from the
    masked library, as the agent would import it; a name the library lost stays unbound."""
    paths = set(files)
    copied = {t.qualname for t in objects}
    imports: set[str] = set()
    bodies: list[str] = []
    future = False
    for target in sorted(objects, key=lambda t: (t.path, _first_line(files, t))):
        module = module_name(target.path, paths)
        found = locate(files[target.path], target.qualname, target.path)
        if module is None or found is None:
            raise MaskError(f"{target.path}: {target.qualname} cannot be copied into agent_code")
        future |= "from __future__ import annotations" in files[target.path]
        kept = _module_bindings_of(masked.get(target.path, files[target.path]), target.path)
        wanted = _free_names(found.source) - copied - set(dir(builtins))
        imports |= {f"from {module} import {name}\n" for name in wanted & kept}
        bodies.append(found.source)
    head = ["from __future__ import annotations\n"] if future else []
    return "".join([*head, *sorted(imports), "\n\n", "\n\n".join(bodies)])


def _first_line(files: dict[str, str], target: Target) -> int:
    found = locate(files[target.path], target.qualname, target.path)
    return 0 if found is None else found.start


def _free_names(source: str) -> set[str]:
    """Names ``source`` reads (a superset of its globals: locals are filtered by the caller
    against what the module binds)."""
    return {
        node.id
        for node in ast.walk(parse(source))
        if isinstance(node, ast.Name) and not (node.id.startswith("__") and node.id.endswith("__"))
    }


def _module_bindings_of(source: str, path: str) -> set[str]:
    """Names a module binds at its top level: definitions, assignments, imports."""
    bound: set[str] = set()
    for stmt, _ in scope_statements(SourceText(source, path).tree.body):
        if isinstance(stmt, _DEFS):
            bound.add(stmt.name)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in stmt.names if a.name != "*"}
        elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bound
