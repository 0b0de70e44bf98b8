"""Masking by emptying: a function stays, its body goes.

Some objects cannot leave their module: code that runs at import refers to
them (``curried = curry(func)``, ``func.__doc__ = ...``, a registry) without
calling them. Deleting them would break importing; keeping them whole would
leave the feature in place. Such a function keeps its decorators, signature
and docstring, and its body becomes ``raise NotImplementedError``: importing
works, calling fails, and the body is gone. (Functions *called* at import
time stay whole: the traces name them.)

:func:`mask_with_stubs` combines this with :func:`orchestrator.masking.mask`.
"""

from __future__ import annotations

import ast

from orchestrator.extract.masking import (
    Masked,
    MaskError,
    Removed,
    SourceText,
    Target,
    apply_edits,
    find_definition,
    mask,
)

STUB_BODY = "raise NotImplementedError"


def stub_bodies(files: dict[str, str], stubs: list[Target]) -> tuple[dict[str, str], list[Removed]]:
    """The changed files, and each stub's removed body (lines and original text)."""
    by_path: dict[str, list[Target]] = {}
    for target in stubs:
        by_path.setdefault(target.path, []).append(target)
    changed: dict[str, str] = {}
    removed: list[Removed] = []
    for path, targets in sorted(by_path.items()):
        if path not in files:
            raise MaskError(f"{path}: no such module to stub {targets[0].qualname} in")
        src = SourceText(files[path], path)
        edits = []
        for target in targets:
            edit, body = _stub_edit(src, target)
            edits.append(edit)
            removed.append(body)
        text = apply_edits(src.text, edits)
        SourceText(text, f"{path} (stubbed)")  # raises MaskError when it does not parse
        changed[path] = text
    return changed, removed


def _stub_edit(src: SourceText, target: Target) -> tuple[tuple[int, int, str], Removed]:
    found = find_definition(src.tree, target.qualname)
    node = None if found is None else found[0][-1]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise MaskError(f"{target.path}: no function {target.qualname} to empty")
    body = node.body
    if ast.get_docstring(node, clean=False) is not None:
        body = body[1:]
    if not body:
        raise MaskError(f"{target.path}: {target.qualname} has no body to take out")
    first, last = body[0], body[-1]
    end_line = last.end_lineno or last.lineno
    if first.lineno == node.lineno or (
        ast.get_docstring(node, clean=False) is not None and first.lineno == node.body[0].lineno
    ):  # the body shares a line with what stays: replace just the statements
        start = src.start(first)
        edit = (start, src.end(last), STUB_BODY)
    else:
        line = src.lines[first.lineno - 1]
        indent = line[: len(line) - len(line.lstrip())]
        start = src.line_start(first.lineno)
        edit = (start, src.line_start(end_line + 1), f"{indent}{STUB_BODY}{src.eol(end_line)}")
    text = src.text[edit[0] : edit[1]]
    return edit, Removed(target, first.lineno, end_line, text)


def mask_with_stubs(files: dict[str, str], targets: list[Target], stubs: list[Target]) -> Masked:
    """Remove ``targets`` and empty ``stubs``; one :class:`Masked` for both."""
    stubbed, bodies = stub_bodies(files, stubs)
    masked = mask({**files, **stubbed}, targets)
    combined = {**stubbed, **masked.files}
    changed = {path: text for path, text in combined.items() if text != files.get(path)}
    return Masked(changed, [*masked.removed, *bodies], masked.dropped_names, masked.renamed)
