"""What the pairs stages read off a function's syntax tree (stdlib ``ast``, no tree-sitter).

The code we extract from is the repositories' own Python, which the
environment's interpreter compiles anyway, so ``ast`` parses all of it; a
grammar of our own would only add ways to disagree with the interpreter.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import PurePosixPath

from orchestrator.extract.masking import find_definition

_BRANCHES = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.IfExp,
    ast.ExceptHandler,
    ast.Assert,
    ast.match_case,
)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_TEST_DIRS = frozenset(("tests", "test", "testing", "_testing"))


@dataclass(frozen=True)
class FunctionFacts:
    """One function definition as the filters and the prompts see it."""

    qualname: str
    source: str  # decorators to the last line, dedented
    signature: str  # ``def name(args) -> ret:``, as written
    docstring: str | None
    first_line: int  # the first decorator's line, or the ``def`` line
    last_line: int
    returns: bool  # a ``return <value>`` or a ``yield`` of its own
    complexity: int

    @property
    def name(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def lines(self) -> int:
        return self.last_line - self.first_line + 1


def function_facts(text: str, qualname: str) -> FunctionFacts | None:
    """The facts of ``qualname`` in module ``text``; None when it is no function defined there."""
    try:
        found = find_definition(_parse(text), qualname)
    except SyntaxError:
        return None
    node = None if found is None else found[0][-1]
    if not isinstance(node, _FUNCTIONS):
        return None
    lines = text.splitlines()
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    last = node.end_lineno or node.lineno
    return FunctionFacts(
        qualname=qualname,
        source=textwrap.dedent("\n".join(lines[first - 1 : last])) + "\n",
        signature=signature(node),
        docstring=ast.get_docstring(node),
        first_line=first,
        last_line=last,
        returns=returns_value(node),
        complexity=complexity(node),
    )


@functools.lru_cache(maxsize=32)
def _parse(text: str) -> ast.Module:
    """A module's tree, parsed once for all the functions asked about in it (never mutated)."""
    return ast.parse(text)


def parse_function(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The one top-level function of ``source``; None when it does not parse or has none."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    defs = [node for node in body if isinstance(node, _FUNCTIONS)]
    return defs[0] if len(defs) == 1 else None


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``def name(args) -> ret:`` as the source spells it (async kept)."""
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{prefix} {node.name}({ast.unparse(node.args)}){returns}:"


def own_nodes(node: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not those of functions or classes nested in it."""
    found: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        found.append(child)
        if not isinstance(child, (*_FUNCTIONS, ast.ClassDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(child))
    return found


def returns_value(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Yield | ast.YieldFrom) or (isinstance(n, ast.Return) and n.value)
        for n in own_nodes(node)
    )


def complexity(node: ast.AST) -> int:
    """McCabe's number: one plus each branch, boolean operand and comprehension filter."""
    count = 1
    for child in own_nodes(node):
        if isinstance(child, _BRANCHES):
            count += 1
        elif isinstance(child, ast.BoolOp):
            count += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            count += 1 + len(child.ifs)
    return count


def is_test_helper(path: str, qualname: str) -> bool:
    """Code that belongs to a test suite: under a tests directory, in a test module, or test_*."""
    posix = PurePosixPath(path)
    if _TEST_DIRS & set(posix.parts[:-1]) or posix.name == "conftest.py":
        return True
    if re.fullmatch(r"test_.*\.py|.*_test\.py", posix.name):
        return True
    return any(part.startswith(("test_", "Test")) for part in qualname.split("."))


def normalised_hash(source: str) -> str:
    """Equal for functions that differ only in local names, docstrings, comments and layout.

    Only the function's own names (parameters and what it assigns) are
    anonymised: two functions calling different globals are different code.
    """
    node = parse_function(source)
    if node is None:
        return hashlib.sha256(source.encode()).hexdigest()
    tree = ast.parse(ast.unparse(node))
    local = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    local |= {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    tree = _Anonymise(local).visit(tree)
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


class _Anonymise(ast.NodeTransformer):
    def __init__(self, local: set[str]) -> None:
        self.local = local

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        node.name = "_"
        if ast.get_docstring(node) is not None:  # the docstring is prose, not code
            node.body = node.body[1:] or [ast.Pass()]
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.Name(id="_", ctx=node.ctx) if node.id in self.local else node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = "_"
        return self.generic_visit(node)


def ngrams(source: str, size: int) -> frozenset[tuple[str, ...]]:
    """The token n-grams of ``source`` without comments, docstring-free layout tokens."""
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    try:
        tokens = [
            t.string
            for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in skipped and t.string
        ]
    except (tokenize.TokenError, SyntaxError):
        tokens = source.split()
    return frozenset(tuple(tokens[i : i + size]) for i in range(max(1, len(tokens) - size + 1)))


def similarity(a: frozenset[tuple[str, ...]], b: frozenset[tuple[str, ...]]) -> float:
    """Jaccard similarity of two n-gram sets."""
    return len(a & b) / len(a | b) if a or b else 1.0


def module_context(text: str, path: str, qualname: str) -> str:
    """Where the function lives: its module, its class, and the module's imports."""
    try:
        body = ast.parse(text).body
    except SyntaxError:
        body = []
    imports = [ast.unparse(node) for node in body if isinstance(node, ast.Import | ast.ImportFrom)]
    owner = qualname.rsplit(".", 1)[0] if "." in qualname else None
    lines = [f"Module: {path}"]
    if owner is not None:
        lines.append(f"It is a method of class {owner}.")
    if imports:
        lines.append("The module imports:\n" + "\n".join(imports))
    return "\n".join(lines)


def extract_function(reply: str, name: str) -> tuple[str | None, str]:
    """The function ``name`` from a model's reply (a fenced block or plain code), or why not."""
    blocks = re.findall(r"```(?:python|py)?[^\n]*\n(.*?)```", reply, flags=re.DOTALL)
    defined: list[str] = []
    for code in [*blocks, reply]:
        try:
            body = ast.parse(textwrap.dedent(code)).body
        except SyntaxError:
            continue
        for node in body:
            if isinstance(node, _FUNCTIONS):
                if node.name == name:
                    return _segment(textwrap.dedent(code), node), ""
                defined.append(node.name)
    if defined:
        return None, f"wrong name: the reply defines {', '.join(defined)}, not {name}"
    return None, "no function: the reply holds no Python function that parses"


def _segment(code: str, node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    lines = code.splitlines()
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return "\n".join(lines[first - 1 : node.end_lineno or node.lineno]) + "\n"
