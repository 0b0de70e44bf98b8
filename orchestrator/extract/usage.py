"""How the F2P tests use an interface: a few of their lines, for a statement to quote.

An interface without a docstring is otherwise described only by its signature and
the names of its tests, which the agent cannot read; what it must return, and what
it raises, stays a guess. So the statement quotes, bounded, the test lines that
mention it, or a name bound from such a line (``res = f(x)``, then ``assert res ==
3``: what comes back), in source order and each test in turn; a call under a
``pytest.raises`` carries that header on its line; a test's first line comes with
the ``@pytest.mark.parametrize`` line it takes its arguments from and the lines of
the test module's fixtures it uses that mention the interface. Doctest items give
their ``>>>`` lines and the expected output.

These are lines of the test file, never of the removed code: a line the removed
code also holds is left out, so quoting cannot leak the body.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator

from orchestrator.extract.masking import Target, blocks, find_definition, parse
from orchestrator.extract.raises import EXPECTING, called

MAX_LINES = 6  # quoted lines per interface
MAX_LINE = 160  # characters per quoted line; longer ones are cut with " ..."
MAX_CHARS = 800  # characters per interface, all lines together
_Def = ast.FunctionDef | ast.AsyncFunctionDef
# Compound statements whose blocks hold quotable lines (handlers, finally, cases too).
_BLOCKS = ast.If | ast.For | ast.AsyncFor | ast.While | ast.Try | ast.TryStar | ast.Match
Entry = tuple[str, ...]  # lines quoted together: a parametrize line and the line using it


def interface_names(source: str, target: Target) -> set[str]:
    """The names by which a test reaches ``target``: its own name; for a class the public
    methods it defines (``obj.meth(...)`` does not name the class); for a dunder method
    its class and the module's subclasses of it (``repr(Max())`` and ``Optional(key)``
    do not name the method)."""
    owner, _, name = target.qualname.rpartition(".")
    tree = parse(source)
    found = find_definition(tree, target.qualname)
    node = None if found is None else found[0][-1]
    if owner and name.startswith("__") and name.endswith("__"):  # repr(Max()), Optional(k)
        return {name, *_with_subclasses(tree, owner.rsplit(".", 1)[-1])}
    if not isinstance(node, ast.ClassDef):
        return {name}
    methods = {s.name for s in node.body if isinstance(s, _Def) and not s.name.startswith("_")}
    return {name, *methods}


def _with_subclasses(tree: ast.Module, name: str) -> set[str]:
    """``name`` and the classes of the module that derive from it, directly or not."""
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    found = {name}
    for _ in classes:  # one more generation per pass
        more = {c.name for c in classes if any(_mentions(b, found) for b in c.bases)}
        if more <= found:
            break
        found |= more
    return found


def usage_lines(
    test_file: str, test_source: str, nodeids: list[str], names: set[str], removed: set[str]
) -> list[str]:
    """Up to :data:`MAX_LINES` lines of the tests ``nodeids`` that use ``names``, taking
    turns between tests; none holding a line of ``removed`` (the leak scan's distinctive lines)."""
    if test_file.endswith(".py"):
        try:
            tree = parse(test_source)
        except SyntaxError:
            return []
        names = names | _aliases(tree, names)
        fixtures = _fixtures(tree, test_source, names)
        names = names | set(fixtures)
        tests = _unique_tests(nodeids)
        per_test = [_test_lines(tree, test_source, n, names, fixtures) for n in tests]
    else:  # doctests in a text file
        per_test = [[(line,) for line in _doctest_lines(test_source, names)]]
    return _bounded(per_test, removed)


def library_calls(files: dict[str, str], names: set[str], removed: set[str]) -> list[str]:
    """Statements of the library code that stays (``files``) that call ``names``, each
    with its path: for a helper no test names, how its callers use it."""
    entries: list[Entry] = []
    for path, text in sorted(files.items()):
        try:
            tree = parse(text) if path.endswith(".py") else None
        except SyntaxError:
            continue
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.stmt) and not hasattr(node, "body") and _calls(node, names):
                entries.append((f"{_one_line(_segment(text, node))}  # in {path}",))
    return _bounded([entries], removed)


def calling(sources: dict[str, str], names: set[str]) -> list[str]:
    """The keys of ``sources`` (removed objects' source by name) whose code calls
    ``names``: for a helper only removed code uses, which listed interfaces need it."""
    found = []
    for name, source in sources.items():
        try:
            tree = parse(textwrap.dedent(source))
        except SyntaxError:  # a body dedent cannot free (odd string literals)
            continue
        found += [name] if _calls(tree, names) else []
    return found


def _calls(node: ast.AST, names: set[str]) -> bool:
    return any(isinstance(n, ast.Call) and _mentions(n.func, names) for n in ast.walk(node))


def _bounded(per_test: list[list[Entry]], removed: set[str]) -> list[str]:
    """Entries taking turns between tests, each line cut, within the bounds."""
    chosen: list[str] = []
    for entry in _take_turns(per_test):
        cut = [line if len(line) <= MAX_LINE else line[: MAX_LINE - 4] + " ..." for line in entry]
        cut = [line for line in cut if line not in chosen]  # a fixture's line, quoted once
        if not cut or any(part in line for part in removed for line in entry):
            continue
        if len(chosen) + len(cut) > MAX_LINES or len("".join(chosen + cut)) > MAX_CHARS:
            break
        chosen += cut
    return chosen


def _aliases(tree: ast.Module, names: set[str]) -> set[str]:
    """Other names the test module binds them to: ``from pkg import name as other``."""
    return {
        alias.asname
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in names and alias.asname
    }


def _unique_tests(nodeids: list[str]) -> list[str]:
    """The test functions of ``nodeids``, parameters dropped, in order, once each."""
    seen: list[str] = []
    for nodeid in nodeids:
        name = nodeid.split("::", 1)[-1].split("[", 1)[0]
        seen += [] if name in seen else [name]
    return seen


def _take_turns(per_test: list[list[Entry]]) -> Iterator[Entry]:
    """Each test's first line, then each test's second, ...: every test is heard."""
    depth = max(map(len, per_test), default=0)
    for i in range(depth):
        yield from (lines[i] for lines in per_test if i < len(lines))


def _test_lines(
    tree: ast.Module, source: str, name: str, names: set[str], fixtures: dict[str, list[str]]
) -> list[Entry]:
    """The lines of test ``name`` (``Class::test`` or ``test``) that mention ``names``
    or a local bound from such a line (``res = f(x)`` then ``assert res == 3``); the
    first comes with the lines of the fixtures it uses and the ``parametrize`` lines."""
    node = _lookup(tree, name.replace("::", "."))
    if "." in name or not isinstance(node, _Def):  # a doctest item (``pkg.mod.func``)
        doc = None if node is None else ast.get_docstring(node, clean=True)
        return [(line,) for line in _doctest_lines(doc or "", names)]
    lines: list[str] = []
    seen = set(names)
    for stmt, raises in _statements(source, node.body, ""):
        quoted = _quote(source, stmt, seen)
        if quoted is not None:
            seen |= _bound(stmt)
            lines.append(raises + quoted)
    if not lines:
        return []
    args = [a.arg for a in node.args.args]
    used = [f"# fixture {a}: {line}" for a in args for line in fixtures.get(a, [])]
    first = (*used, *_parametrize(node, source, lines[:1]), lines[0])
    return [first, *((line,) for line in lines[1:])]


def _quote(source: str, stmt: ast.stmt, names: set[str]) -> str | None:
    """``stmt`` on one line when it mentions ``names``; of a ``with`` block, the header
    (``with log_errors(log.append):``) when its items do."""
    if not isinstance(stmt, ast.With | ast.AsyncWith):
        return _one_line(_segment(source, stmt)) if _mentions(stmt, names) else None
    items = [i for i in stmt.items if not _raises(i)]
    if not any(_mentions(i.context_expr, names) for i in items):
        return None
    return f"with {', '.join(_item(source, i) for i in items)}:"


def _bound(stmt: ast.stmt) -> set[str]:
    """The plain names an assignment or a ``with ... as`` binds."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    if isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _fixtures(tree: ast.Module, source: str, names: set[str]) -> dict[str, list[str]]:
    """The test module's fixtures whose bodies mention ``names``, with those lines: a test
    taking such a fixture reaches the interface through it (``cc = cli.get_command()``)."""
    found: dict[str, list[str]] = {}
    for node in tree.body:
        if not isinstance(node, _Def) or not any(map(_is_fixture, node.decorator_list)):
            continue
        quoted = [_quote(source, s, names) for s, _ in _statements(source, node.body, "")]
        used = [line for line in quoted if line is not None]
        if used:
            found[node.name] = used
    return found


def _is_fixture(decorator: ast.expr) -> bool:
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(func, ast.Attribute) and func.attr == "fixture") or (
        isinstance(func, ast.Name) and func.id == "fixture"
    )


def _lookup(tree: ast.Module, dotted: str) -> _Def | ast.ClassDef | ast.Module | None:
    """The definition ``dotted`` names; a doctest item's name starts with its module's
    (``pkg.mod.func``), which names the module itself when nothing follows."""
    parts = dotted.split(".")
    for i in range(len(parts)):
        found = find_definition(tree, ".".join(parts[i:]))
        node = None if found is None else found[0][-1]
        if isinstance(node, _Def | ast.ClassDef):
            return node
    return tree if len(parts) > 1 else None


def _statements(source: str, body: list[ast.stmt], raises: str) -> Iterator[tuple[ast.stmt, str]]:
    """Simple statements of ``body``, nested blocks walked, each with the ``with
    pytest.raises(...):`` header it runs under (or "")."""
    for stmt in body:
        if isinstance(stmt, ast.With | ast.AsyncWith):
            header = [_item(source, i) for i in stmt.items if _raises(i)]
            inner = f"with {', '.join(header)}: " if header else raises
            if len(header) < len(stmt.items):  # a context manager of its own: quotable
                yield stmt, raises
            yield from _statements(source, stmt.body, inner)
        elif isinstance(stmt, _BLOCKS):
            for block in sorted(blocks(stmt), key=lambda block: block[0].lineno):  # as written
                yield from _statements(source, block, raises)
        elif not isinstance(stmt, _Def | ast.ClassDef):
            yield stmt, raises


def _item(source: str, item: ast.withitem) -> str:
    """A ``with`` item as written (a withitem has no position of its own)."""
    text = _one_line(_segment(source, item.context_expr))
    bound = item.optional_vars
    return text if bound is None else f"{text} as {_segment(source, bound)}"


def _raises(item: ast.withitem) -> bool:
    expr = item.context_expr
    return called(expr.func if isinstance(expr, ast.Call) else expr) in EXPECTING | {"warns"}


def _mentions(node: ast.AST, names: set[str]) -> bool:
    return any(
        (isinstance(n, ast.Name) and n.id in names)
        or (isinstance(n, ast.Attribute) and n.attr in names)
        for n in ast.walk(node)
    )


def _segment(source: str, node: ast.AST) -> str:
    return ast.get_source_segment(source, node) or ast.unparse(node)


def _one_line(text: str) -> str:
    """A multi-line statement on one line (brackets keep it valid Python)."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _parametrize(node: _Def, source: str, lines: list[str]) -> list[str]:
    """The ``parametrize`` decorators whose argument names the chosen ``lines`` use."""
    words = set(" ".join(lines).replace("(", " ").replace(")", " ").replace(",", " ").split())
    found: list[str] = []
    for decorator in node.decorator_list:
        if not (isinstance(decorator, ast.Call) and _is_parametrize(decorator.func)):
            continue
        first = decorator.args[0] if decorator.args else None
        argnames = first.value if isinstance(first, ast.Constant) else ""
        if isinstance(argnames, str) and words & {a.strip() for a in argnames.split(",")}:
            found.append("@" + _one_line(_segment(source, decorator)))
    return found


def _is_parametrize(func: ast.expr) -> bool:
    return isinstance(func, ast.Attribute) and func.attr == "parametrize"


def _doctest_lines(text: str, names: set[str]) -> list[str]:
    """``>>>`` lines that mention ``names``, each with its expected output line."""
    lines = text.splitlines()
    found: list[str] = []
    for i, line in enumerate(lines):
        example = line.strip()
        if not example.startswith(">>> ") or not _mentions_text(example[4:], names):
            continue
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        shown = following and not following.startswith((">>>", "..."))
        found.append(f"{example}  # -> {following}" if shown else example)
    return found


def _mentions_text(code: str, names: set[str]) -> bool:
    try:
        return _mentions(parse(code), names)
    except SyntaxError:  # the first line of a multi-line example
        return any(name in code for name in names)
