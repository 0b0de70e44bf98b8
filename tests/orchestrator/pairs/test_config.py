"""The ``[pairs]`` table: defaults, overlays and one-line errors naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.pairs.config import PairsConfig, load_pairs_config


def test_defaults_without_any_table(tmp_path: Path) -> None:
    """No config.toml and no table in the specs: every default, max_depth 2 among them."""
    specs = tmp_path / "specs.py"
    specs.write_text("SPECS_A = {}\n")
    config = load_pairs_config(tmp_path / "config.toml", specs)
    assert config == PairsConfig()
    assert config.max_depth == 2


def test_the_specs_file_overrides_config_toml_key_by_key(tmp_path: Path) -> None:
    """config.toml sets two keys, the specs file's PAIRS one of them again."""
    (tmp_path / "config.toml").write_text("[pairs]\nmax_depth = 3\nmin_lines = 4\n")
    specs = tmp_path / "specs.py"
    specs.write_text("PAIRS = {'max_depth': 1}\n")
    config = load_pairs_config(tmp_path / "config.toml", specs)
    assert (config.max_depth, config.min_lines) == (1, 4)


def test_a_toml_specs_file_holds_a_pairs_table(tmp_path: Path) -> None:
    """``[pairs]`` in a TOML specs file is read as settings."""
    specs = tmp_path / "specs.toml"
    specs.write_text('[pairs]\nrequired_checks = ["alignment", "pep8"]\n\n[SPECS_A]\n')
    config = load_pairs_config(tmp_path / "none.toml", specs)
    assert config.required_checks == ("alignment", "pep8")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("max_dept = 3", r"config.toml: \[pairs\] max_dept: unknown key; the keys are max_depth"),
        ('max_depth = "two"', r"config.toml: \[pairs\] max_depth: Expected `int`, got `str`"),
        ("max_depth = 0", r"config.toml: \[pairs\] max_depth: expected 1 to 50, got 0"),
        ("min_lines = 9\nmax_lines = 4", r"\[pairs\] min_lines: 9 is above max_lines"),
        ('required_checks = ["speed"]', r"required_checks: unknown check 'speed'; choose from"),
        ('source_column = " "', r"config.toml: \[pairs\] source_column: must not be empty"),
        ("source_max_rows = 0", r"\[pairs\] source_max_rows: expected 1 to 100000000, got 0"),
        ("self_tests_memory_mb = 1", r"\[pairs\] self_tests_memory_mb: expected 64 to"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, table: str, message: str) -> None:
    """Each mistake names the file, the key and what to do."""
    (tmp_path / "config.toml").write_text(f"[pairs]\n{table}\n")
    with pytest.raises(UsageError, match=message) as raised:
        load_pairs_config(tmp_path / "config.toml", None)
    assert "\n" not in str(raised.value)
