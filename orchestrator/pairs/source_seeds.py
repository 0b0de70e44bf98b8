"""Stage seeds of a ``--source`` run: top-level functions of the source's Python files.

No repository tests guard them, so there is no trace, no depth and no stub
check; the rest is the repository seeds' own: the same filters of ``[pairs]``
(each a recorded drop reason), the same exact and near duplicate removal and
the same ``--num-samples`` draw. A function called by its module's top-level
code is "run at import time", as far as the file alone can tell. Methods are
dropped: a response has to run on its own, beside its tests, with nothing but
its module's imports. Each seed is marked ``validation = "self-tests"``.
"""

from __future__ import annotations

import ast
from typing import Any

from orchestrator.errors import FbenchError
from orchestrator.pairs.common import SELF_TESTS, count, drop, spec_rows, write_jsonl
from orchestrator.pairs.config import PairsConfig
from orchestrator.pairs.functions import function_facts, module_context
from orchestrator.pairs.seeds import (
    ROWS,
    STATS,
    Candidate,
    deduplicate,
    filter_reason,
    function_row,
    sample,
)
from orchestrator.pairs.source import Source, SourceFile, source_files
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.storage import write_json

METHOD = "a method: a file's seeds are top-level functions, whose response runs on its own"


class SourceSeedsStage:
    name = "seeds"
    version = 1
    depends_on: tuple[str, ...] = ()
    cache_key: str | None = None  # reading and parsing the rows is all it does

    def __init__(self, source: Source, config: PairsConfig, num_samples: int | None) -> None:
        self.source = source
        self.config = config
        self.num_samples = num_samples

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        return []

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        raise AssertionError("the source seeds stage has no items")

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        try:
            files, rows, functions = self._read(state)
        except FbenchError as exc:  # the source broke after its first row: the exit status says so
            ctx.error(f"{state.name}: {exc}")
            raise
        kept = [candidate for candidate, _ in files.values()]
        count(state, "functions", functions)
        chosen = sample(ctx, state, deduplicate(state, kept, self.config), self.num_samples)
        seeds = [self._row(state, c, files[c.key][1]) for c in chosen]
        state.values["pairs_seeds"] = seeds
        count(state, "seeds", len(seeds))
        write_jsonl(ctx.root / ROWS, spec_rows({"": seeds}))
        stats = {
            "source": str(self.source),
            "rows": rows,
            "functions": functions,
            "seeds": len(seeds),
            "dropped": state.values.get("pairs_drops", {}).get("seeds", {}),
        }
        write_json(ctx.root / STATS, {state.name: stats})

    def _read(self, state: SpecState) -> tuple[dict[str, tuple[Candidate, SourceFile]], int, int]:
        """The candidates kept, by key, with their files; how many rows and functions were read."""
        kept: dict[str, tuple[Candidate, SourceFile]] = {}
        rows = functions = 0
        for file in source_files(self.source, self.config):
            rows += 1
            for candidate in self._candidates(state, file):
                functions += 1
                if candidate is not None:
                    kept[candidate.key] = (candidate, file)
        return kept, rows, functions

    def _candidates(self, state: SpecState, file: SourceFile) -> list[Candidate | None]:
        """Every function and method of ``file``; None for each one a filter dropped."""
        try:
            tree = ast.parse(file.text)
        except (SyntaxError, ValueError):  # not Python 3, or NUL bytes: no function to take
            return []
        called = called_at_import(tree)
        found: list[Candidate | None] = []
        origin = f"{file.index}:"
        for qualname in defined_functions(tree):
            facts = function_facts(file.text, qualname)
            if "." in qualname:
                why: str | None = METHOD
            elif facts is None:
                why = "not a function: not in the module's source"
            else:
                why = filter_reason(self.config, file.path, qualname, facts, qualname in called)
            if why is not None or facts is None:
                drop(state, "seeds", f"{origin}{file.path}::{qualname}", why or "not found")
                found.append(None)
                continue
            found.append(Candidate(file.path, qualname, facts, origin=origin))
        return found

    def _row(self, state: SpecState, candidate: Candidate, file: SourceFile) -> dict[str, Any]:
        row = function_row(state.name, candidate, (str(self.source), file.digest), ([], []))
        row["validation"] = SELF_TESTS
        row["context"] = module_context(file.text, candidate.path, candidate.qualname)
        row["imports"] = module_imports(file.text)
        return row


def defined_functions(tree: ast.Module) -> list[str]:
    """Qualified names of the module's functions and of its top-level classes' methods."""
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef):
            names += [
                f"{node.name}.{child.name}"
                for child in node.body
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
    return list(dict.fromkeys(names))  # a redefinition is one function: the last one


def called_at_import(tree: ast.Module) -> set[str]:
    """Names the module's own top-level statements call (not those inside its functions)."""
    called: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.add(node.func.id)
    return called


def module_imports(text: str) -> list[str]:
    """The module's top-level absolute imports, each as one statement."""
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError):
        return []
    return [
        ast.unparse(node)
        for node in body
        if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and not node.level)
    ]
