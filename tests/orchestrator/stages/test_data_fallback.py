"""``case_unit = "auto"`` falls back to a file's classes when the whole file drops in data.

The whole of ``tests/test_calc.py`` passes top, but its case would leak: a code
template in ``templates/`` holds ``beta``'s body. ``TestAlpha`` removes only
``alpha`` and makes a case; ``TestBeta`` leaks as the file did. ``tests/test_gamma.py``
never falls back, and its cases are the same bytes as ``case_unit = "file"`` makes.
``tests/test_delta.py`` leaks too, but its one class holds all its tests: nothing to
fall back to that the file did not try.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from tests.support.caseutil import instance
from tests.support.gitrepos import commit_files, setuptools_pyproject

SPEC = "SPECS_CALC"
CALC = "tests/test_calc.py"
BETA_BODY = """\
    weighted_total = sum(value * weight for value, weight in zip(values, weights))
    total_of_weights = sum(weights) or 1
    return weighted_total / total_of_weights
"""
DELTA_BODY = """\
    halved_products = [value * weight / 2 for value, weight in zip(values, weights)]
    halved_total = sum(halved_products)
    rounded_total = round(halved_total, 6)
    return rounded_total
"""
FILES = {
    "pyproject.toml": setuptools_pyproject("calc"),
    "calc/__init__.py": "from .stats import alpha, beta, gamma\nfrom .extra import delta\n",
    "calc/extra.py": f'''\
def delta(values, weights):
    """The weighted sum of the values, halved."""
{DELTA_BODY}''',
    "templates/delta.py.tmpl": f"def {{{{ name }}}}(values, weights):\n{DELTA_BODY}",
    "tests/test_delta.py": """\
from calc import delta


class TestDelta:
    def test_mean(self):
        assert delta([1, 3], [1, 1]) == 2

    def test_weighted(self):
        assert delta([1, 3], [3, 1]) == 3

    def test_no_weight(self):
        assert delta([1], [0]) == 0
""",
    "calc/stats.py": f'''\
def alpha(values):
    """The spread between the largest and the smallest value."""
    ordered_values = sorted(values)
    return ordered_values[-1] - ordered_values[0]


def beta(values, weights):
    """The mean of the values, each counted by its weight."""
{BETA_BODY}

def gamma(values):
    """The values without repeats, in their first order."""
    seen_values = set()
    unique_values = []
    for value in values:
        if value not in seen_values:
            seen_values.add(value)
            unique_values.append(value)
    return unique_values
''',
    # A generated-code template that carries beta's body: a leak of beta wherever it goes.
    "templates/beta.py.tmpl": f"def {{{{ name }}}}(values, weights):\n{BETA_BODY}",
    CALC: """\
from calc import alpha, beta


class TestAlpha:
    def test_spread(self):
        assert alpha([3, 1, 2]) == 2

    def test_one(self):
        assert alpha([5]) == 0

    def test_negative(self):
        assert alpha([-1, 4]) == 5


class TestBeta:
    def test_mean(self):
        assert beta([1, 3], [1, 1]) == 2

    def test_weighted(self):
        assert beta([1, 3], [3, 1]) == 1.5

    def test_no_weight(self):
        assert beta([1], [0]) == 0
""",
    "tests/test_gamma.py": """\
from calc import gamma


def test_unique():
    assert gamma([1, 2, 1]) == [1, 2]


def test_empty():
    assert gamma([]) == []


def test_order():
    assert gamma([3, 1, 3, 2]) == [3, 1, 2]
""",
    "tests/test_other.py": """\
import calc


def test_exports():
    assert callable(calc.alpha) and callable(calc.gamma)
""",
}


def build(work: Path, unit: str) -> Path:
    spec = {
        "repository": str(work / "calc"),
        "pip_packages": ["pytest"],
        "min_test_num": 3,
        "max_code_line_lower_bound": 2,
        "max_code_line_upper_bound": 40,
        "stability_runs": 0,
        "case_unit": unit,
    }
    (work / f"{unit}.py").write_text(f"{SPEC} = {spec!r}\n")
    command = ["build-cases", "--config-path", str(work / f"{unit}.py")]
    command += ["--output-dir", str(work / f"out-{unit}"), "--cache-dir", str(work / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fallback")
    commit_files(work / "calc", FILES, "calc", 1_700_000_000)
    return work


@pytest.fixture(scope="module")
def auto(work: Path) -> Path:
    return build(work, "auto")


def status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    return found[SPEC]["files"]


def test_the_whole_file_drops_in_data_and_its_classes_are_tried(auto: Path) -> None:
    rows = status(auto)
    whole = rows[CALC]
    assert (whole["status"], whole["stage"]) == ("dropped", "leak"), whole
    assert "templates/beta.py.tmpl" in whole["reason"]
    assert "case_unit 'auto' tried its 2 smaller units instead: 1 valid" in whole["reason"]
    assert rows[f"{CALC}::TestAlpha"]["status"] == "valid", rows
    beta = rows[f"{CALC}::TestBeta"]
    assert (beta["status"], beta["stage"]) == ("dropped", "leak"), beta


def test_a_class_holding_every_test_of_the_file_is_not_tried_again(auto: Path) -> None:
    rows = status(auto)
    whole = rows["tests/test_delta.py"]
    assert (whole["status"], whole["stage"]) == ("dropped", "leak"), whole
    assert "case_unit 'auto' tried" not in whole["reason"]
    assert not [key for key in rows if key.startswith("tests/test_delta.py::")], rows


def test_the_class_case_tests_its_class_and_keeps_the_rest_passing(auto: Path) -> None:
    (case,) = auto.glob("cases/*/test_calc.TestAlpha.*.lv1")
    info = instance(case)
    assert sorted(info["FAIL_TO_PASS"]) == [
        f"{CALC}::TestAlpha::test_negative",
        f"{CALC}::TestAlpha::test_one",
        f"{CALC}::TestAlpha::test_spread",
    ]
    assert f"{CALC}::TestBeta::test_mean" in info["PASS_TO_PASS"]
    source = (case / "repo" / "calc" / "stats.py").read_text()
    assert "ordered_values = sorted(values)" not in source
    assert "weighted_total = sum(" in source


def _case_bytes(run: Path, name: str) -> dict[str, bytes]:
    (case,) = run.glob(f"cases/*/{name}")
    found = {}
    for path in sorted(case.rglob("*")):
        relative = path.relative_to(case).as_posix()
        if path.is_file() and not relative.startswith("repo/.git/"):
            found[relative] = path.read_bytes()
    info = json.loads(found.pop("instance.json"))
    info["repo_settings"].pop("case_unit", None)  # a default is not written
    found["instance.json"] = json.dumps(info, sort_keys=True).encode()
    return found


def test_a_file_that_does_not_fall_back_gives_the_same_cases(work: Path, auto: Path) -> None:
    whole = build(work, "file")
    names = sorted(p.name for p in auto.glob("cases/*/test_gamma.*"))
    assert names, "test_gamma.py gave no case"
    assert names == sorted(p.name for p in whole.glob("cases/*/test_gamma.*"))
    for name in names:
        assert _case_bytes(auto, name) == _case_bytes(whole, name), name
    assert not list(whole.glob("cases/*/test_calc.*")), "case_unit 'file' falls back to nothing"
