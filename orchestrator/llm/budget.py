"""Prompts within ``max_prompt_tokens``: what room a template leaves, and test excerpts.

A test file goes to the model cut to the tests that matter for the question:
the module's own lines that are not tests (imports, helpers, constants), then
each test named, in file order. A test a class inherits from a base defined
elsewhere (a mixin in another module, say) is shown from where it is defined,
so the model sees the code that runs, not an empty class.
"""

from __future__ import annotations

import ast
import re

from orchestrator.extract import masking
from orchestrator.llm.client import CHARS_PER_TOKEN, LLM
from orchestrator.llm.prompts import Prompt

_PARAMS = re.compile(r"\[.*\]$")
_BASE_DEPTH = 4  # how far up a chain of base classes a test method is looked for
Block = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def parse(source: str) -> ast.Module | None:
    """The syntax tree of ``source``, or None when it does not parse; masking's parse, so
    one lock keeps every thread's parse apart (CPython 3.11's parser is not thread-safe)."""
    try:
        return masking.parse(source)
    except SyntaxError:
        return None


def room(llm: LLM, template: Prompt, variables: dict[str, str], reserve: int = 0) -> int:
    """Characters left for the variables given empty here, within ``max_prompt_tokens``."""
    fixed = sum(len(m["content"]) for m in template.render(variables))
    return llm.config.max_prompt_tokens * CHARS_PER_TOKEN - fixed - reserve


def cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, saying so when cut."""
    if len(text) <= limit:
        return text
    mark = "\n# ... (cut to fit the prompt)\n"
    return text[: max(0, limit - len(mark))] + mark if limit > len(mark) else ""


def test_excerpt(files: dict[str, str], file: str, nodeids: set[str], limit: int) -> str:
    """The parts of test ``file`` the tests ``nodeids`` run, within ``limit`` characters."""
    source = files.get(file, "")
    tree = parse(source)
    if tree is None:
        return cut(source, limit)
    lines = source.splitlines(keepends=True)
    wanted = [_PARAMS.sub("", n).split("::")[1:] for n in sorted(nodeids)]
    tops = {names[0] for names in wanted if names}
    header = [_text(lines, n) for n in tree.body if not _is_test(n, tops)]
    pieces = ["".join(header).rstrip() + "\n"]
    for node in tree.body:
        if isinstance(node, Block) and node.name in tops:
            pieces.append(_test_piece(files, file, lines, node, wanted))
    return _fill(pieces, limit)


def _is_test(node: ast.stmt, tops: set[str]) -> bool:
    if not isinstance(node, Block):
        return False
    return node.name in tops or node.name.startswith(("test", "Test"))


def _text(lines: list[str], node: ast.stmt) -> str:
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "".join(lines[start - 1 : node.end_lineno])


def _test_piece(
    files: dict[str, str], file: str, lines: list[str], node: Block, wanted: list[list[str]]
) -> str:
    if not isinstance(node, ast.ClassDef):
        return _text(lines, node)
    methods = sorted({names[1] for names in wanted if len(names) == 2 and names[0] == node.name})
    head = "".join(lines[node.lineno - 1 : node.body[0].lineno - 1])
    parts = [head or f"class {node.name}:\n"]
    for name in methods:
        found = _method(files, file, node, name, 0)
        if found is None:
            continue
        path, owner, text = found
        if owner != node.name:
            parts.append(f"    # inherited from {owner} ({path})\n")
        parts.append(text)
    return "".join(parts)


def _method(
    files: dict[str, str], path: str, cls: ast.ClassDef, name: str, depth: int
) -> tuple[str, str, str] | None:
    """(path, class, source) of method ``name`` as ``cls`` gets it, from itself or a base."""
    for child in cls.body:
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and child.name == name:
            return path, cls.name, _text(files[path].splitlines(keepends=True), child)
    if depth >= _BASE_DEPTH:
        return None
    for base in cls.bases:
        base_name = base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
        for base_path, base_cls in _classes_named(files, path, base_name):
            found = _method(files, base_path, base_cls, name, depth + 1)
            if found is not None:
                return found
    return None


def _classes_named(files: dict[str, str], near: str, name: str) -> list[tuple[str, ast.ClassDef]]:
    """Classes called ``name``: in module ``near`` first, then anywhere in the project."""
    found: list[tuple[str, ast.ClassDef]] = []
    for path in sorted(files, key=lambda p: (p != near, p)):
        tree = parse(files[path]) if f"class {name}" in files[path] else None
        if tree is not None:
            found += [
                (path, n) for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name
            ]
    return found


def _fill(pieces: list[str], limit: int) -> str:
    """As many pieces as fit in ``limit``, in order; the first that does not fit is cut."""
    text = ""
    for number, piece in enumerate(pieces):
        if len(text) + len(piece) + 1 <= limit:
            text += piece + "\n"
            continue
        note = f"# ... {len(pieces) - number - 1} more tests not shown\n"
        text += cut(piece, limit - len(text) - len(note)) + note
        break
    return text[: max(limit, 0)]
