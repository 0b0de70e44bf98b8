"""Case texts by the LLM (``llm_prompt_for_case``): task statements and missing docstrings.

Both are asked with the original code in view, within ``max_prompt_tokens``,
and both only describe: the task statement leaves the interfaces to the stubs,
and a docstring goes into the stub the agent reads, never into the repository.
A task statement is checked (:mod:`orchestrator.llm.statements`) and asked
again once with what was wrong; after that the case keeps its offline text.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.extract.masking import (
    Definition,
    Target,
    find_definition,
    first_line,
    locate,
    parse,
)
from orchestrator.llm.budget import cut, room
from orchestrator.llm.client import LLM
from orchestrator.llm.prompts import load_prompt

DOCSTRING = "docstring"
TASK = "task_statement"
_FEEDBACK_CHARS = 1000  # kept free for the second request's note


def identities(llm: LLM) -> list[dict[str, object]]:
    return [llm.identity(load_prompt(name)) for name in (DOCSTRING, TASK)]


def with_docstrings(
    llm: LLM, library: str, source: str, target: Target, cached: bool = True
) -> tuple[str, dict[str, str]]:
    """``source`` with docstrings written where ``target``'s stub would show none.

    For a class, that is the class and the methods its stub lists (public ones,
    ``__init__`` and ``__call__``). Returns the new source and qualname -> docstring.
    """
    written: dict[str, str] = {}
    node = _definition(source, target.qualname)
    names = [target.qualname]
    if isinstance(node, ast.ClassDef):
        names += [
            f"{target.qualname}.{child.name}"
            for child in node.body
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            and (not child.name.startswith("_") or child.name in ("__init__", "__call__"))
        ]
    for qualname in names:
        source, text = _with_docstring(llm, library, source, Target(target.path, qualname), cached)
        if text:
            written[qualname] = text
    return source, written


def _with_docstring(
    llm: LLM, library: str, source: str, target: Target, cached: bool
) -> tuple[str, str | None]:
    node = _definition(source, target.qualname)
    if node is None or ast.get_docstring(node) is not None or node.body[0].lineno == node.lineno:
        return source, None
    found = locate(source, target.qualname, target.path)
    template = load_prompt(DOCSTRING)
    variables = {"library": library, "path": target.path, "source": ""}
    variables["source"] = cut(found.source if found else "", room(llm, template, variables))
    text = llm.complete(template, variables, cached).strip().strip('"').strip()
    if not text:
        return source, None
    lines = source.splitlines(keepends=True)
    first = first_line(node.body[0]) - 1  # a decorated statement starts at its decorator
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    # Backslashes doubled: the docstring reads back as written, and a \N or \d stays text.
    body = text.replace("\\", "\\\\").replace('"""', "'''").replace("\n", "\n" + indent)
    lines.insert(first, f'{indent}"""{body}\n{indent}"""\n')
    return "".join(lines), text


@dataclass(frozen=True)
class Statement:
    """What the model wrote, or '' with why the offline statement is used instead."""

    text: str
    rejected: str | None = None


def task_statement(
    llm: LLM,
    library: str,
    stubs: list[str],
    test_file: str,
    test_source: str,
    check: Callable[[str], list[str]],
    cached: bool = True,
) -> Statement:
    """The model's task statement, asked once more saying what ``check`` found wrong."""
    template = load_prompt(TASK)
    variables = {"library": library, "stubs": "", "test_file": test_file, "test_source": ""}
    variables["feedback"] = ""
    space = room(llm, template, variables, reserve=_FEEDBACK_CHARS)
    variables["stubs"] = cut("\n\n".join(stubs), space)
    variables["test_source"] = cut(test_source, space - len(variables["stubs"]))
    wrong: list[str] = []
    for _ in range(2):
        text = llm.complete(template, variables, cached).strip()
        wrong = check(text)
        if not wrong:
            return Statement(text)
        why = "; ".join(wrong)
        variables["feedback"] = cut(f"Your previous statement could not be used: {why}.", 900)
    return Statement("", f"the statement was rejected twice: {'; '.join(wrong)}")


def _definition(source: str, qualname: str) -> Definition | None:
    found = find_definition(parse(source), qualname)
    return None if found is None else found[0][-1]
