"""The quality checks of a response: each a figure and a pass/fail against ``[pairs]``.

PEP 8 and PEP 257 are ruff's pycodestyle (E, W) and pydocstyle (D) rules;
ruff gates most pycodestyle rules behind ``--preview``, and without it misses
what pycodestyle reports. Ruff only parses the response, never runs it, so it
runs here rather than in the sandbox. Type-hint coverage, complexity and the
signature half of alignment come from ``ast``.
"""

from __future__ import annotations

import ast
import json
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from orchestrator.llm.client import LLM
from orchestrator.llm.prompts import load_prompt
from orchestrator.pairs.config import PairsConfig
from orchestrator.pairs.functions import complexity, parse_function
from orchestrator.pipeline.process import run_command
from orchestrator.pipeline.registry import registry

# pycodestyle's default ignore list, as far as ruff knows the rules; 79 columns as PEP 8 says.
_RUFF = ("--preview", "--select", "E,W,D", "--ignore", "D100,E226,E24", "--line-length", "79")
_PEP257 = ("--config", "lint.pydocstyle.convention = 'pep257'")


def quality(
    response: str, seed: dict[str, Any], config: PairsConfig, instruction: str, llm: LLM | None
) -> dict[str, dict[str, Any]]:
    """Every registered check's figure and verdict: ``{"pep8": {"value": 2, "passed": False}}``."""
    checks = registry("pair_checks")  # featurebench.pair_checks: these five, and plugins'
    return {
        name: checks.get(name)(response, seed, config, instruction, llm) for name in checks.types()
    }


def pep8_check(response: str, seed: Any, config: PairsConfig, *_: Any) -> dict[str, Any]:
    pep8 = sum(1 for code in ruff_codes(response) if code[0] in "EW")
    return _check(pep8, pep8 <= config.max_pep8_issues, config.max_pep8_issues)


def docstring_check(response: str, seed: Any, config: PairsConfig, *_: Any) -> dict[str, Any]:
    found = sum(1 for code in ruff_codes(response) if code[0] == "D")
    return _check(found, found <= config.max_docstring_issues, config.max_docstring_issues)


def type_hints_check(response: str, seed: Any, config: PairsConfig, *_: Any) -> dict[str, Any]:
    node = parse_function(response)
    coverage = type_hint_coverage(node) if node is not None else 0.0
    bound = config.min_type_hint_coverage
    return _check(coverage, coverage >= bound, bound)


def complexity_check(response: str, seed: Any, config: PairsConfig, *_: Any) -> dict[str, Any]:
    node = parse_function(response)
    branches = complexity(node) if node is not None else 0
    return _check(branches, branches <= config.max_complexity, config.max_complexity)


def alignment_check(
    response: str, seed: dict[str, Any], config: PairsConfig, instruction: str, llm: LLM | None
) -> dict[str, Any]:
    return alignment(parse_function(response), seed, instruction, response, llm)


def _check(value: float, passed: bool, threshold: float) -> dict[str, Any]:
    return {"value": value, "threshold": threshold, "passed": passed}


@lru_cache(maxsize=64)  # pep8 and docstring read the same findings: ruff runs once per response
def ruff_codes(source: str) -> tuple[str, ...]:
    """The codes of ruff's E, W and D findings on ``source`` alone (no project config)."""
    with tempfile.TemporaryDirectory(prefix="fbench-ruff-") as temporary:
        folder = Path(temporary)
        (folder / "response.py").write_text(source, encoding="utf-8")
        argv = [sys.executable, "-m", "ruff", "check", "--isolated", *_RUFF, *_PEP257]
        argv += ["--output-format", "json", "-o", "found.json", "response.py"]
        run_command(argv, cwd=folder, timeout=60)
        found = folder / "found.json"
        rows = json.loads(found.read_text(encoding="utf-8")) if found.exists() else []
    return tuple(str(row["code"]) for row in rows if row.get("code"))


def type_hint_coverage(node: ast.FunctionDef | ast.AsyncFunctionDef) -> float:
    """Annotated parameters and return over all of them (``self`` and ``cls`` aside)."""
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    params += [a for a in (args.vararg, args.kwarg) if a is not None]
    params = [p for p in params if p.arg not in ("self", "cls")]
    annotated = sum(1 for p in params if p.annotation is not None) + (node.returns is not None)
    return round(annotated / (len(params) + 1), 3)


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str]]:
    """Each parameter's kind and name: what a caller relies on, annotations aside."""
    args = node.args
    kinds = [("positional-only", a.arg) for a in args.posonlyargs]
    kinds += [("positional", a.arg) for a in args.args]
    kinds += [("*", args.vararg.arg)] if args.vararg else []
    kinds += [("keyword-only", a.arg) for a in args.kwonlyargs]
    kinds += [("**", args.kwarg.arg)] if args.kwarg else []
    return kinds


def alignment(
    node: ast.FunctionDef | ast.AsyncFunctionDef | None,
    seed: dict[str, Any],
    instruction: str,
    response: str,
    llm: LLM | None,
) -> dict[str, Any]:
    """The response defines the name and parameters asked for; with an LLM, a yes/no judgement."""
    wanted = parse_function(seed["signature"] + "\n    ...\n")
    if node is None or wanted is None:
        return {"value": 0, "passed": False, "reason": "the response is not one function"}
    if node.name != wanted.name or parameters(node) != parameters(wanted):
        why = f"defines {node.name}{ast.unparse(node.args)!r}, asked for {seed['signature']!r}"
        return {"value": 0, "passed": False, "reason": why}
    if llm is None:
        return {"value": 1, "passed": True, "reason": "name and parameters as asked"}
    answer = llm.complete(
        load_prompt("pairs_alignment"), {"instruction": instruction, "response": response}
    ).strip()
    verdict = answer.upper().startswith("YES")
    return {"value": int(verdict), "passed": verdict, "reason": answer[:300]}
