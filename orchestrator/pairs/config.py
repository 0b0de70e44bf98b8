"""The ``[pairs]`` table: the seed filters and the quality thresholds, every key checked.

It may sit in config.toml or in the specs file (a ``[pairs]`` table of a TOML
specs file, a ``PAIRS`` dict of a Python one); the specs file wins key by key.
"""

from __future__ import annotations

import runpy
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.errors import UsageError
from orchestrator.pipeline.registry import registry


class PairsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Every key of ``[pairs]`` with its default; README's "Building pairs" documents each."""

    max_depth: int = 2  # guarding tests reach the seed within this many calls
    require_docstring: bool = True
    require_return: bool = True  # a ``return`` with a value, or a ``yield``
    min_lines: int = 3
    max_lines: int = 80
    max_complexity: int = 10  # the seed filter and the quality check's bound
    exclude_import_time: bool = True
    exclude_test_helpers: bool = True
    near_duplicate_similarity: float = 0.85  # Jaccard of token n-grams at or above: a duplicate
    ngram_size: int = 4
    max_guarding_tests: int = 50  # the shallowest ones are kept
    timeout_validate: int = 120  # seconds for a response's guarding tests; past it, it fails
    max_pep8_issues: int = 0
    min_type_hint_coverage: float = 0.0
    max_docstring_issues: int = 3
    required_checks: tuple[str, ...] = ("alignment",)  # quality checks a validated pair must pass
    # --source (files without repository tests): where the code is, and the self-tests' limits.
    source_column: str = "content"  # the column holding a Python file's text
    source_path_column: str = "path"  # the column naming the file, when the source has one
    source_split: str = "train"  # the split streamed from an hf: dataset
    source_max_rows: int = 10_000  # rows read at most (a streamed dataset has no end)
    timeout_self_tests: int = 20  # seconds for a response's own tests; past it, it fails
    self_tests_memory_mb: int = 1024  # address space of the process running them


_BOUNDS: dict[str, tuple[float, float]] = {
    "max_depth": (1, 50),
    "min_lines": (1, 10_000),
    "max_lines": (1, 10_000),
    "max_complexity": (1, 1_000),
    "near_duplicate_similarity": (0.0, 1.0),
    "ngram_size": (1, 20),
    "max_guarding_tests": (1, 10_000),
    "timeout_validate": (1, 86_400),
    "max_pep8_issues": (0, 10_000),
    "min_type_hint_coverage": (0.0, 1.0),
    "max_docstring_issues": (0, 10_000),
    "source_max_rows": (1, 100_000_000),
    "timeout_self_tests": (1, 86_400),
    "self_tests_memory_mb": (64, 1_048_576),
}


def parse_pairs(table: Any, where: str) -> PairsConfig:
    """A checked :class:`PairsConfig`; UsageError names ``where``, the key and the fix."""
    if not isinstance(table, dict):
        raise UsageError(f"{where}: [pairs] must be a table of keys; see README, Building pairs")
    for key in table:
        if key not in PairsConfig.__struct_fields__:
            known = ", ".join(PairsConfig.__struct_fields__)
            raise UsageError(f"{where}: [pairs] {key}: unknown key; the keys are {known}")
    try:
        config = msgspec.convert(table, PairsConfig)
    except msgspec.ValidationError as exc:
        raise UsageError(f"{where}: [pairs] {_key_of(exc)}: {exc}; fix the value") from None
    _check_values(config, where)
    return config


def _key_of(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    return text.split("$.", 1)[1].split("`", 1)[0] if "$." in text else "?"


def _check_values(config: PairsConfig, where: str) -> None:
    for key, (low, high) in _BOUNDS.items():
        value = getattr(config, key)
        if not low <= value <= high:
            raise UsageError(f"{where}: [pairs] {key}: expected {low} to {high}, got {value}")
    if config.min_lines > config.max_lines:
        raise UsageError(f"{where}: [pairs] min_lines: {config.min_lines} is above max_lines")
    for key in ("source_column", "source_path_column", "source_split"):
        if not getattr(config, key).strip():
            raise UsageError(f"{where}: [pairs] {key}: must not be empty")
    checks = registry("pair_checks").types()  # the five built-ins and any plugin's
    for name in config.required_checks:
        if name not in checks:
            raise UsageError(
                f"{where}: [pairs] required_checks: unknown check {name!r};"
                f" choose from {', '.join(checks)}"
            )


def load_pairs_config(global_config: Path, specs: Path | None) -> PairsConfig:
    """config.toml's ``[pairs]`` overlaid with the specs file's; defaults when neither has one."""
    merged: dict[str, Any] = {}
    where = "[pairs]"
    for path, table in ((global_config, _from_toml(global_config)), (specs, _from_specs(specs))):
        if table is not None:
            parse_pairs(table, str(path))  # each file's mistakes name that file
            merged.update(table)
            where = str(path)
    return parse_pairs(merged, where)


def _from_toml(path: Path | None) -> Any:
    if path is None or path.suffix != ".toml" or not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("pairs")
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def _from_specs(path: Path | None) -> Any:
    if path is None or path.suffix != ".py" or not path.is_file():
        return _from_toml(path)
    try:
        return runpy.run_path(str(path)).get("PAIRS")
    except Exception as exc:  # the specs module is the user's code; load_specs reports it too
        raise UsageError(f"{path}: the module failed to run: {type(exc).__name__}: {exc}") from None
