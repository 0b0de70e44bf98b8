"""Case texts by the LLM (``llm_prompt_for_case``): task statements and missing docstrings.

Both are asked with the original code in view, and both only describe: the
task statement leaves the interfaces to the stubs, and a docstring goes into
the stub the agent reads, never into the repository.
"""

from __future__ import annotations

import ast

from orchestrator.extract.masking import Definition, Target, find_definition, locate, parse
from orchestrator.llm.client import LLM
from orchestrator.llm.prompts import load_prompt

DOCSTRING = "docstring"
TASK = "task_statement"
_SOURCE_CHARS = 6000


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
    code = found.source[:_SOURCE_CHARS] if found else ""
    variables = {"library": library, "path": target.path, "source": code}
    text = llm.complete(load_prompt(DOCSTRING), variables, cached).strip().strip('"').strip()
    if not text:
        return source, None
    lines = source.splitlines(keepends=True)
    first = node.body[0].lineno - 1
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    body = text.replace('"""', "'''").replace("\n", "\n" + indent)
    lines.insert(first, f'{indent}"""{body}\n{indent}"""\n')
    return "".join(lines), text


def task_statement(
    llm: LLM, library: str, stubs: list[str], test_file: str, test_source: str, cached: bool = True
) -> str:
    variables = {
        "library": library,
        "stubs": "\n\n".join(stubs),
        "test_file": test_file,
        "test_source": test_source[:_SOURCE_CHARS],
    }
    return llm.complete(load_prompt(TASK), variables, cached).strip()


def _definition(source: str, qualname: str) -> Definition | None:
    found = find_definition(parse(source), qualname)
    return None if found is None else found[0][-1]
