"""What a case's statement must list for the case to be solvable from it alone.

Masking removes more than the top objects: the helpers only they use, the
imports that bound their names in other modules (a package ``__init__``
re-export such as ``from .filesize import naturalsize``), and their ``__all__``
entries. None of these can stay behind, since they name what is gone: the
package would not import, and ``from pkg import *`` would fail. So the
statement lists them all, each under the interface it belongs to:

- helpers get interface stubs of their own;
- an import or ``__all__`` statement is quoted as the original has it, under the
  interface whose name it binds (level 1 only: level 2 writes a new package);
- a string literal that an F2P test asserts on and that only removed code holds
  (an exact error message) is quoted under the interface that holds it;
- an interface without a docstring gets the names of the F2P tests that run it and
  a few of their lines that use it (:mod:`orchestrator.extract.usage`).

:func:`faithful_files` then rebuilds, from the masked files, exactly what the
statement lists (lines of the original that it covers) and nothing else: the
patch a careful agent could write.
"""

from __future__ import annotations

import ast
import difflib
import functools
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from orchestrator.extract.leaks import distinctive_lines
from orchestrator.extract.masking import (
    Masked,
    SourceText,
    Target,
    find_definition,
    from_imports,
    locate,
    parse,
    scope_statements,
)
from orchestrator.extract.members import Members, attributes_note, class_members, used_names
from orchestrator.extract.raises import raised_for_tests
from orchestrator.extract.usage import (
    calling,
    interface_names,
    library_calls,
    usage_lines,
)
from orchestrator.pipeline.doctests import is_test_file
from orchestrator.pipeline.traces import TestTrace

EXPOSURE = "# Also restore, in "  # comment lines of a stub that only level 1 needs
MIN_ASSERTED = 6  # shorter strings in tests ("abc", "x=1") are inputs, not messages
MIN_PRODUCED = 4  # shorter literals of removed code ("B", ", ") say too little
SHARED_RUN = 16  # text a test's string and a literal share that makes it the same message
MAX_TESTS = 8  # test names listed for a docstring-less interface
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]|\{[^{}]*\}")


@dataclass
class Listing:
    """What the statement lists beyond the top objects' stubs, and the lines it covers."""

    helpers: list[Target]
    exposures: dict[Target, list[str]] = field(default_factory=dict)
    strings: dict[Target, list[str]] = field(default_factory=dict)
    raises: dict[Target, list[str]] = field(default_factory=dict)  # what tests expect raised
    exercised: dict[Target, list[str]] = field(default_factory=dict)
    usage: dict[Target, list[str]] = field(default_factory=dict)  # test lines, when exercised
    callers: dict[Target, list[str]] = field(default_factory=dict)  # library lines, when none
    users: dict[Target, list[str]] = field(default_factory=dict)  # removed callers, else
    members: dict[Target, Members] = field(default_factory=dict)  # a class's, others use
    examples: dict[Target, list[str]] = field(default_factory=dict)  # test lines, documented
    covered: dict[str, set[int]] = field(default_factory=dict)  # path -> original lines

    def cover(self, path: str, start: int, end: int) -> None:
        self.covered.setdefault(path, set()).update(range(start, end + 1))


def statement_listing(
    files: dict[str, str],
    masked: Masked,
    features: list[Target],
    helpers: list[Target],
    test_file: str,
    tests: dict[str, TestTrace],
) -> Listing:
    """Everything the statement of a case removing ``masked`` lists: the top objects
    (``features``), and the ``helpers`` removed with them."""
    listed = [*features, *helpers]
    listing = Listing(helpers=helpers)
    for target in listed:  # in the original: Removed lines of a stubbed file are shifted
        found = locate(files[target.path], target.qualname, target.path)
        if found is not None:
            listing.cover(target.path, found.start, found.end)
    for path in sorted(masked.dropped_names):
        if path in files and not is_test_file(path):  # eval puts test files back as they are
            _list_exposures(listing, files, masked, path, listed)
    kept = [text for path, text in {**files, **masked.files}.items() if path != test_file]
    listing.strings = observable_strings(files[test_file], masked, listed, kept)
    listing.raises = raised_for_tests(files[test_file], masked, listed)
    listing.exercised = exercised_by(files, listed, tests)
    # A quote must not hold a line the leak scan would count as the removed body's.
    body = {line for lines in distinctive_lines(masked.removed, kept).values() for line in lines}
    quote = functools.partial(_test_lines, files, test_file, tests, body)
    _list_usage(listing, files, masked, quote, body)
    # A docstring without an example says what an interface does, the tests pin how
    # (exact output, edge cases); it may undersell them (isodate's duration_isoformat,
    # "a wrapper around strftime", signs negative durations too).
    for target, names in exercised_by(files, listed, tests, documented=True).items():
        listing.examples[target] = quote(target, names)
    used = used_names([*kept, files[test_file]])  # removed code's own uses need no listing
    for target in listed:
        source = files[target.path]
        listing.members[target] = class_members(source, target.qualname, target.path, used)
    return listing


def _test_lines(
    files: dict[str, str],
    test_file: str,
    tests: dict[str, TestTrace],
    body: set[str],
    target: Target,
    names: list[str],
) -> list[str]:
    """The lines of the F2P tests ``names`` that use ``target``, its own tests first."""
    reaches = interface_names(files[target.path], target)
    ids = named_first([n for n in tests if n.split("::", 1)[-1] in names], target)
    return usage_lines(test_file, files[test_file], ids, reaches, body)


def _list_usage(
    listing: Listing,
    files: dict[str, str],
    masked: Masked,
    quote: Callable[[Target, list[str]], list[str]],
    body: set[str],
) -> None:
    """Per docstring-less interface, the F2P test lines that use it; for one no test line
    names (a helper), the calls of it in the library code that stays, or else the names
    of the removed objects that call it."""
    library = {p: t for p, t in {**files, **masked.files}.items() if not is_test_file(p)}
    for target, names in listing.exercised.items():
        listing.usage[target] = quote(target, names)
        name = target.qualname.rsplit(".", 1)[-1]
        plain = set() if name.startswith("__") else {name}  # Max() does not call __repr__
        if not listing.usage[target] and plain:
            listing.callers[target] = library_calls(library, plain, body)
        if not listing.usage[target] and not listing.callers.get(target) and plain:
            others = {r.target.qualname: r.source for r in masked.removed if r.target != target}
            listing.users[target] = calling(others, plain)


def named_first(nodeids: list[str], target: Target) -> list[str]:
    """``nodeids`` with the tests named after the interface first (its own tests quote it
    best: ``test_parse_docstring_sections`` over the hundreds of tests that reach it)."""
    name = target.qualname.rsplit(".", 1)[-1].strip("_").lower()
    return sorted(nodeids, key=lambda nodeid: name not in nodeid.rsplit("::", 1)[-1].lower())


def _list_exposures(
    listing: Listing, files: dict[str, str], masked: Masked, path: str, listed: list[Target]
) -> None:
    """The imports and ``__all__`` statements of ``path`` that bind a removed name."""
    src = SourceText(files[path], path)
    lost = masked.dropped_names[path]
    renamed = masked.renamed.get(path, {})
    owners = {t.qualname: t for t in listed if "." not in t.qualname}
    statements: list[tuple[ast.stmt, dict[str, str]]] = []
    for node, _ in from_imports(src.tree.body):
        module = "." * node.level + (node.module or "")
        said = {a.asname or a.name: f"from {module} import {_alias(a)}" for a in node.names}
        statements.append((node, said))
    for stmt, _ in scope_statements(src.tree.body):
        if _binds_all(stmt):
            strings = {n.value for n in ast.walk(stmt) if isinstance(n, ast.Constant)}
            said = {s: f"{s!r} in __all__" for s in strings if isinstance(s, str)}
            statements.append((stmt, said))
    for stmt, said in statements:
        for name in sorted(set(said) & lost):
            owner = owners.get(renamed.get(name, name))
            if owner is None:
                continue
            note = f"{EXPOSURE}{path}: {said[name]}"
            notes = listing.exposures.setdefault(owner, [])
            notes += [] if note in notes else [note]
            listing.cover(path, stmt.lineno, stmt.end_lineno or stmt.lineno)


def _alias(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


def _binds_all(stmt: ast.stmt) -> bool:
    """``__all__ = [...]``, ``__all__ += [...]``, ``__all__.extend(...)`` and the like."""
    if isinstance(stmt, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        return any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets)
    return isinstance(stmt, ast.Expr) and ast.unparse(stmt).startswith("__all__.")


def observable_strings(
    test_source: str, masked: Masked, listed: list[Target], kept: Iterable[str]
) -> dict[Target, list[str]]:
    """Per listed object, the string literals of its removed code that the tests assert on
    (the test's string is in the literal, or the literal in it, or the literal with its
    placeholders filled in) and no kept code holds."""
    asserted = {
        s.strip() for s in _string_constants(parse(test_source)) if len(s.strip()) >= MIN_ASSERTED
    }
    everywhere = "\n".join(kept)
    found: dict[Target, list[str]] = {}
    for removed in masked.removed:
        if removed.target not in listed:
            continue
        for node, text in _literals(removed.source):
            shared = text not in everywhere and any(_matches(a, text, everywhere) for a in asserted)
            pattern = None if shared else _template(node, everywhere)
            if not shared and not (pattern and any(re.search(pattern, a) for a in asserted)):
                continue
            quoted = ast.unparse(node)
            strings = found.setdefault(removed.target, [])
            strings += [] if quoted in strings else [quoted]
    return found


def _matches(asserted: str, produced: str, everywhere: str) -> bool:
    """Whether the test's string and the literal share a long enough run of text (a
    ``match=`` pattern is often a part of the message, a formatted message holds the
    literal's fixed part) that no kept code holds."""
    block = difflib.SequenceMatcher(None, asserted, produced, autojunk=False).find_longest_match()
    shared = asserted[block.a : block.a + block.size]
    long_enough = min(SHARED_RUN, len(asserted), len(produced))
    return block.size >= long_enough and shared not in everywhere


def _between_quotes(literal: str) -> str:
    """The text of a string literal's source without its quotes (single or triple)."""
    quote = literal[:3] if literal[:3] in ("'''", '"""') else literal[:1]
    return literal[len(quote) : -len(quote)]


def _template(node: ast.expr, everywhere: str) -> str | None:
    """A regular expression for the texts a formatting literal produces (``'-> %s from
    %s'``, ``f"{n} items"``), when it has :data:`MIN_ASSERTED` fixed characters or more
    and no kept code holds it whole; else None."""
    if isinstance(node, ast.JoinedStr):
        pieces = [p.value if isinstance(p, ast.Constant) else None for p in node.values]
        whole = _between_quotes(ast.unparse(node)[1:])
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        split = _PLACEHOLDER.split(node.value)
        pieces = [x for piece in split for x in (None, piece)][1:]
        whole = node.value
    else:
        return None
    fixed = [p for p in pieces if isinstance(p, str)]
    if None not in pieces or len("".join(fixed).strip()) < MIN_ASSERTED or whole in everywhere:
        return None
    return "".join("(.+?)" if p is None else re.escape(str(p)) for p in pieces)


def _string_constants(tree: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is str]


def _fixed_text(literal: str) -> str:
    """The longest part of a literal that formatting leaves as it is (``%s``, ``{}`` out)."""
    return max(_PLACEHOLDER.split(literal), key=len).strip()


def _literals(source: str) -> list[tuple[ast.expr, str]]:
    """String literals of ``source`` that are not docstrings, with their fixed text (the
    longest constant part of an f-string)."""
    try:
        tree = parse(textwrap.dedent(source))
    except SyntaxError:  # a body that dedent cannot free (odd string literals)
        return []
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found: list[tuple[ast.expr, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = _string_constants(node)
            found += [(node, max(map(_fixed_text, parts), key=len))] if parts else []
        elif (
            isinstance(node, ast.Constant)
            and type(node.value) is str
            and id(node) not in docstrings
        ):
            found.append((node, _fixed_text(node.value)))
    inside = {
        id(part)
        for node, _ in found
        if isinstance(node, ast.JoinedStr)
        for part in ast.walk(node)
        if part is not node
    }
    return [(n, text) for n, text in found if id(n) not in inside and len(text) >= MIN_PRODUCED]


def exercised_by(
    files: dict[str, str],
    listed: list[Target],
    tests: dict[str, TestTrace],
    documented: bool = False,
) -> dict[Target, list[str]]:
    """Per listed object without a docstring (``documented``: with one that shows no
    ``>>>`` example), the F2P tests whose traces run it."""
    found: dict[Target, list[str]] = {}
    for target in listed:
        defined = find_definition(SourceText(files[target.path], target.path).tree, target.qualname)
        doc = None if defined is None else ast.get_docstring(defined[0][-1])
        if defined is None or (doc is None) == documented or ">>>" in (doc or ""):
            continue
        inside = (target.qualname, f"{target.qualname}.")
        names = sorted(
            nodeid.split("::", 1)[-1]
            for nodeid, test in tests.items()
            if any(
                p == target.path and (q == inside[0] or q.startswith(inside[1]))
                for p, q, *_ in test.calls
            )
        )
        if names:
            found[target] = names
    return found


def exercised_doc(listing: Listing, target: Target) -> str:
    """The stand-in docstring of an interface that has none: its tests' names, and the
    lines of them that use it, or else the library's calls of it, or else the listed
    objects that call it."""
    names = listing.exercised[target]
    more = f", and {len(names) - MAX_TESTS} more" if len(names) > MAX_TESTS else ""
    said = [f"Exercised by the tests: {', '.join(names[:MAX_TESTS])}{more}."]
    quotes = (
        ("The tests use it so:", listing.usage.get(target, [])),
        ("The library calls it so:", listing.callers.get(target, [])),
    )
    for title, quoted in quotes:
        said += ["", title, "", *(f"    {line}" for line in quoted)] if quoted else []
    users = listing.users.get(target, [])
    said += ["", f"Called by: {', '.join(users)}."] if users else []
    return "\n".join(said)


def stub_notes(listing: Listing, target: Target) -> list[str]:
    """The comment lines under an interface's stub: its exact strings, its exposures."""
    strings = listing.strings.get(target, [])
    said = [f"# The tests expect this exact text from it: {s}" for s in strings]
    said += [f"# The tests expect it to raise: {r}" for r in listing.raises.get(target, [])]
    said += attributes_note(listing.members.get(target, Members()))
    examples = listing.examples.get(target, [])
    said += ["# The tests use it so:", *(f"#     {line}" for line in examples)] if examples else []
    return [*said, *listing.exposures.get(target, [])]


def faithful_files(
    files: dict[str, str], masked_files: dict[str, str], covered: dict[str, set[int]]
) -> tuple[dict[str, str], list[str]]:
    """The masked files with the original lines the statement covers put back; and the
    original lines masking took out that it does not cover (``path:line: text``)."""
    rebuilt: dict[str, str] = {}
    unlisted: list[str] = []
    for path, text in masked_files.items():
        before = SourceText(files[path], path).lines
        after = SourceText(text, path).lines
        lines = covered.get(path, set())
        # Masking deletes and never reorders: when every line outside the covered ones is
        # still there (as many times), all it took out is listed, and the file is whole.
        outside = Counter(s for n, s in enumerate(before, 1) if n not in lines and s.strip())
        lost = outside - Counter(after)
        if not lost:
            rebuilt[path] = files[path]
            continue
        missing = [n for n, s in enumerate(before, 1) if n not in lines and lost[s] > 0]
        unlisted += [f"{path}:{n}: {before[n - 1].strip()}" for n in missing]
        rebuilt[path] = _restore_covered(before, after, lines)
    return rebuilt, unlisted


def _restore_covered(before: list[str], after: list[str], lines: set[int]) -> str:
    """Best effort when masking took out unlisted lines: the changed runs that hold only
    covered lines go back, the others stay masked."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        whole = all(i + 1 in lines or not before[i].strip() for i in range(i1, i2))
        out += before[i1:i2] if tag != "equal" and i1 < i2 and whole else after[j1:j2]
    return "".join(out)
