"""Checks on a task statement the model wrote, before a case uses it.

A statement must name every interface of the feature, name no public
identifier that exists in neither the repository nor the interfaces (a small
model invents methods and exceptions), follow the prompt's format (two to four
paragraphs, no headings, no code blocks) and stay within length bounds. Each
check that fails says what to do instead, so the model can be asked again with
it. What counts as an identifier in prose: code spans, dotted and snake_case
names, CamelCase words and names followed by ``(``; plain words are prose.
"""

from __future__ import annotations

import builtins
import keyword
import re
import sys

from orchestrator.extract.masking import Target

MIN_WORDS, MAX_WORDS = 40, 600
MIN_PARAGRAPHS, MAX_PARAGRAPHS = 2, 4
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_CALLED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
_SPAN = re.compile(r"`([^`\n]+)`")
_PROSE = frozenset({"e", "g", "i", "etc", "eg", "ie", "vs"})  # e.g., i.e.


def interface_names(features: list[Target]) -> list[str]:
    """The name a statement must use for each interface: a function's, a method's, or for
    a constructor its class's."""
    names: list[str] = []
    for target in features:
        owner, _, name = target.qualname.rpartition(".")
        if name in ("__init__", "__call__") and owner:
            name = owner.rsplit(".", 1)[-1]
        if name not in names:
            names.append(name)
    return names


def known_names(files: dict[str, str], stubs: list[str]) -> frozenset[str]:
    """Every word of the repository's Python files and the stubs, and Python's own names."""
    words = {w for text in [*files.values(), *stubs] for w in _WORD.findall(text)}
    python = {*dir(builtins), *keyword.kwlist, *sys.stdlib_module_names}
    return frozenset(words | python)


def problems(text: str, interfaces: list[str], known: frozenset[str]) -> list[str]:
    """What is wrong with ``text``, each with the fix; empty when it can be used."""
    found: list[str] = []
    missing = [n for n in interfaces if not re.search(rf"(?<![\w.]){re.escape(n)}\b", text)]
    if missing:
        found.append(f"it does not name {', '.join(missing)}: name every interface listed")
    invented = sorted(n for n in mentioned(text) if n not in known and not n.startswith("_"))
    if invented:
        found.append(
            f"it names {', '.join(invented)}, found neither in the library nor among the"
            " interfaces: name only what exists"
        )
    if re.search(r"^\s{0,3}#", text, re.MULTILINE) or "```" in text:
        found.append("it has headings or code blocks: write plain paragraphs")
    paragraphs = len([p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()])
    if not MIN_PARAGRAPHS <= paragraphs <= MAX_PARAGRAPHS:
        found.append(f"it has {paragraphs} paragraphs: write {MIN_PARAGRAPHS} to {MAX_PARAGRAPHS}")
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        found.append(f"it has {words} words: write {MIN_WORDS} to {MAX_WORDS}")
    return found


def mentioned(text: str) -> set[str]:
    """The identifiers ``text`` uses as code, split at dots."""
    spans = _SPAN.findall(text)
    prose = _SPAN.sub(" ", text)
    names = [w for span in spans for w in _WORD.findall(span)]
    names += [w for dotted in _DOTTED.findall(prose) for w in dotted.split(".")]
    names += _CALLED.findall(prose)
    names += [w for w in _WORD.findall(prose) if _looks_like_code(w)]
    return {n for n in names if len(n) > 1 and n.lower() not in _PROSE}


def _looks_like_code(word: str) -> bool:
    inner_upper = any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
    return inner_upper or "_" in word.strip("_")
