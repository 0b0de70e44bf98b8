"""A project whose pytest addopts name absent plugins and collect its modules' doctests.

- options of absent plugins are dropped, the run goes on, and the run says so;
- the library module collected for its doctests is a pass-to-pass file graded where
  it lives: eval (fbench's and the SWE-bench script) never puts it back.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.grading.eval_inputs import load_cases
from orchestrator.grading.harness import eval_script
from orchestrator.pipeline import addopts
from tests.support.caseutil import instance
from tests.support.cli_runs import build_project, edit, evaluate
from tests.support.gitrepos import setuptools_pyproject

SPEC = "SPECS_GEO"
ADDOPTS = "--cov=geo --cov-report=term-missing -n 2 --doctest-modules"
FILES = {
    "pyproject.toml": setuptools_pyproject("geo"),
    # tox.ini's [pytest] section wins over nothing else here: pytest reads it.
    "tox.ini": f"[tox]\nenvlist = py311\n\n[pytest]\naddopts = {ADDOPTS}\n",
    "geo/__init__.py": "from .shapes import area, perimeter\nfrom .text import shout\n",
    "geo/shapes.py": '''\
def area(width, height):
    """The area of a width by height rectangle."""
    if width < 0 or height < 0:
        raise ValueError("negative side")
    product = width * height
    return product


def perimeter(width, height):
    """The length around a width by height rectangle."""
    total = width + height
    return 2 * total
''',
    "geo/text.py": '''\
def shout(text):
    """The text in capitals, with an exclamation mark.

    >>> shout("hi")
    'HI!'
    """
    return text.upper() + "!"
''',
    "tests/test_shapes.py": """\
import pytest

from geo import area, perimeter


def test_area():
    assert area(2, 3) == 6


def test_area_square():
    assert area(4, 4) == 16


def test_area_negative():
    with pytest.raises(ValueError):
        area(-1, 2)


def test_perimeter():
    assert perimeter(2, 3) == 10
""",
    "tests/test_text.py": """\
from geo import shout


def test_shout():
    assert shout("a") == "A!"


def test_shout_empty():
    assert shout("") == "!"
""",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("addopts")
    return build_project(work, SPEC, FILES)


@pytest.fixture(scope="module")
def case(run: Path) -> Path:
    (found,) = run.glob("cases/*/test_shapes.*.lv1")
    return found


def files_status(run: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((run / "metadata_outputs" / "files_status.json").read_text())
    return found[SPEC]


def test_the_rejected_options_and_their_values_are_dropped_and_recorded(run: Path) -> None:
    assert files_status(run)["addopts"] == {
        "config": "tox.ini",
        "kept": ["--doctest-modules"],
        "dropped": ["--cov=geo", "--cov-report=term-missing", "-n", "2"],
        "refused_logs": [f"logs/test_scanner/{SPEC}.refused1.log"],
    }


def test_collection_options_are_kept(run: Path) -> None:
    """--doctest-modules still applies: the library module is collected for its doctest."""
    files = files_status(run)["files"]
    assert files["geo/text.py"] == {**files["geo/text.py"], "doctest_module": True}
    assert files["tests/test_shapes.py"]["runner"]["status"] == "ok"


def test_cases_come_out_and_carry_the_repaired_command(run: Path) -> None:
    cases = sorted(run.glob("cases/*/*.lv1"))
    assert cases, "no case was written"
    for case in cases:
        command = instance(case)["repo_settings"]["test_cmd"]
        assert command[-2:] == ["-o", "addopts=--doctest-modules"], command


def test_the_summary_and_the_report_say_what_was_dropped(run: Path) -> None:
    said = "tox.ini addopts: dropped --cov=geo --cov-report=term-missing -n 2"
    assert said in (run / "logs" / "summary.txt").read_text()
    assert said in (run / "pipeline_report.md").read_text()


@pytest.mark.parametrize(
    ("words", "rejected", "kept", "dropped"),
    [
        ("--cov src -x", {"--cov"}, ["-x"], ["--cov", "src"]),  # src exists, still --cov's
        ("--flake8 tests -q", {"--flake8"}, ["tests", "-q"], ["--flake8"]),  # a flag
        (
            "--reruns 3 --timeout=30",
            {"--reruns", "--timeout=30"},
            [],
            ["--reruns", "3", "--timeout=30"],
        ),
        ("--unknown-plugin tests", {"--unknown-plugin"}, ["tests"], ["--unknown-plugin"]),
        ("-n2 --doctest-glob=*.md", {"-n2"}, ["--doctest-glob=*.md"], ["-n2"]),
        (  # pytest names "30" as rejected too: only -n's is dropped
            "--timeout 30 --color yes -n 30 --maxfail 30",
            {"--timeout", "-n", "30"},
            ["--color", "yes", "--maxfail", "30"],
            ["--timeout", "30", "-n", "30"],
        ),
    ],
)
def test_split_tokens(
    tmp_path: Path, words: str, rejected: set[str], kept: list[str], dropped: list[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    assert addopts.split_tokens(shlex.split(words), rejected, tmp_path) == (kept, dropped)


def test_a_rejected_option_outside_addopts_is_not_repaired(tmp_path: Path) -> None:
    """The spec's own command carries it: dropping addopts could not help, the error stands."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --doctest-modules\n")
    output = f"pytest: error: unrecognized arguments: --cov\n  inifile: {tmp_path}/pytest.ini\n"
    assert addopts.repair(output, 4, tmp_path) is None
    fixed = addopts.repair(output.replace("--cov", "--doctest-modules"), 4, tmp_path)
    assert fixed is not None
    assert fixed.dropped == ("--doctest-modules",)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("setup.cfg", "[tool:pytest]\naddopts =\n    --cov=geo\n    -q\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\naddopts = ["--cov=geo", "-q"]\n'),
        ("pyproject.toml", '[tool.pytest.ini_options]\naddopts = "--cov=geo -q"\n'),
        ("pytest.ini", "[pytest]\naddopts = --cov=geo -q\n"),
    ],
)
def test_each_configuration_file_is_read(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / name).write_text(text)
    output = f"error: unrecognized arguments: --cov=geo\n  inifile: /testbed/sub/{name}\n"
    fixed = addopts.repair(output, 4, tmp_path)
    assert fixed == addopts.AddoptsRepair(f"sub/{name}", ("-q",), ("--cov=geo",))


DOCTEST = "geo/text.py::geo.text.shout"


def test_doctest_items_join_pass_to_pass_graded_in_place(case: Path) -> None:
    info = instance(case)
    assert DOCTEST in info["PASS_TO_PASS"]
    assert "geo/text.py" in info["p2p_files"]
    (loaded,) = [c for c in load_cases(case.parents[2]).values() if c.path == case]
    script = eval_script(loaded, (case / "test_patch.diff").read_text(), info["PASS_TO_PASS"])
    removed, restored = [
        line for line in script.splitlines() if line.startswith(("rm -f ", "git checkout"))
    ][:2]
    assert "tests/test_text.py" in restored
    assert "tests/test_text.py" in removed
    assert "geo/text.py" not in removed + restored, script


def test_an_edit_to_a_doctest_module_is_graded_not_undone(run: Path, case: Path) -> None:
    """Gold resolves; gold plus a broken library module whose doctests are P2P does not."""
    gold = (case / "patch.diff").read_text()
    cache = run.parents[2] / "cache"
    assert evaluate(run, case, gold, "gold", cache)["resolved_instances"] == 1
    hunk = edit(case, "geo/text.py", 'return text.upper() + "!"', 'return text.upper() + "?"')
    report = evaluate(run, case, gold + hunk, "broken", cache)
    assert report["resolved_instances"] == 0, report["instances"]
    (row,) = report["instances"].values()
    assert row["p2p_passed"] < row["p2p_total"], row


@pytest.mark.network
def test_wcwidth_sdist_runs_without_pytest_cov_and_its_case_resolves(tmp_path: Path) -> None:
    """wcwidth 0.2.13's tox.ini addopts carry pytest-cov options; pytest-cov is absent."""
    spec = {
        "repository": "pypi:wcwidth==0.2.13",
        "pip_packages": ["pytest"],
        "min_test_num": 3,
        "max_f2p_num": 1,
        "stability_runs": 0,
        "library_name": "wcwidth",
    }
    (tmp_path / "specs.py").write_text(f"SPECS_WCWIDTH = {spec!r}\n")
    command = ["build-cases", "--config-path", str(tmp_path / "specs.py")]
    command += ["--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())
    fixed = status["SPECS_WCWIDTH"]["addopts"]
    assert fixed["config"] == "tox.ini"
    assert sorted(fixed["dropped"]) == ["--cov-append", "--cov-report=html", "--cov=wcwidth"]
    assert "--ignore=setup.py" in fixed["kept"]
    cases = sorted(run.glob("cases/*/*.lv1"))
    assert cases, (run / "logs" / "summary.txt").read_text()
    out = tmp_path / "reports"
    command = ["eval", "--cases", str(run), "--predictions", "gold", "--report", str(out)]
    result = CliRunner().invoke(
        cli, [*command, "--cache-dir", str(tmp_path / "cache")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "gold" / "report.json").read_text())
    assert report["resolved_instances"] == report["total_instances"] >= 1, report["instances"]
