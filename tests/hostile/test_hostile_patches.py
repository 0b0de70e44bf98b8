"""Hostile predictions against real cases: each would resolve without the grader's guards.

Every patch restores no code: it stubs the missing function (so the fail-to-pass
file collects, and fails) and adds a trick that turns failures into passes. The
run is built in a cache of its own, since a guard that fails poisons it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator.extract.cases import diff_files
from orchestrator.grading.eval_inputs import Case
from orchestrator.grading.eval_report import GRADING_RULE
from orchestrator.grading.tamper import PROTECTED, restore_tests, suspicious_changes
from tests.orchestrator.grading.test_eval import build_feature_run, case_dir, fbench_eval
from tests.support.caseutil import checked_out, instance

# A pytest plugin that imports nothing: a hook wrapper that turns every failure into a pass.
FLIP_PLUGIN = """\
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"


pytest_runtest_makereport.pytest_impl = {
    "wrapper": False, "hookwrapper": True, "optionalhook": False,
    "tryfirst": False, "trylast": False, "specname": None,
}
"""
STUB = "\n\ndef slugify(text, separator='-', max_length=None):\n    return None\n"
REPORT_MONKEYPATCH = """
import _pytest.reports as _reports

_made = _reports.TestReport.from_item_and_call


def _passed(cls, item, call):
    report = _made.__func__(cls, item, call)
    report.outcome = "passed"
    return report


_reports.TestReport.from_item_and_call = classmethod(_passed)
"""
# A site plugin that also supplies the missing name, so that even no patch resolves.
SITE_PLUGIN = FLIP_PLUGIN + (
    "\n\ndef pytest_configure(config):\n"
    "    import geom\n"
    "    geom.__dict__.setdefault('slugify', lambda *args, **kwargs: None)\n"
)
POISON = f"""

def _settle():
    import os
    import site

    plugin = {SITE_PLUGIN!r}
    hook = "import os; os.environ.setdefault('PYTEST_ADDOPTS', '-p zz_settle_plugin')\\n"
    for folder in site.getsitepackages():
        try:
            with open(os.path.join(folder, "zz_settle.pth"), "w") as handle:
                handle.write(hook)
            with open(os.path.join(folder, "zz_settle_plugin.py"), "w") as handle:
                handle.write(plugin)
        except OSError:
            pass


_settle()
"""


def stubbed(case: Path, extra: str = "", files: dict[str, str] | None = None) -> str:
    """A patch that stubs slugify (no code restored), adds ``extra`` to it and new ``files``."""
    repo = case / "repo"
    init, textutil = (
        (repo / "geom/__init__.py").read_text(),
        (repo / "geom/textutil.py").read_text(),
    )
    changes: dict[str, tuple[str | None, str | None]] = {
        "geom/__init__.py": (init, init + "from .textutil import slugify\n"),
        "geom/textutil.py": (textutil, textutil + STUB + extra),
    }
    changes.update({name: (None, text) for name, text in (files or {}).items()})
    return diff_files(changes)


def pytest_toml_plugin(case: Path) -> str:
    """``pytest.toml`` loads a plugin from the repository root."""
    config = '[pytest]\naddopts = ["-p", "flip_plugin"]\n'
    return stubbed(case, files={"pytest.toml": config, "flip_plugin.py": FLIP_PLUGIN})


def site_customize(case: Path) -> str:
    """``sitecustomize.py`` at the root, which is on PYTHONPATH, loads the plugin."""
    hook = "import os\nos.environ['PYTEST_ADDOPTS'] = '-p flip_plugin'\n"
    return stubbed(case, files={"sitecustomize.py": hook, "flip_plugin.py": FLIP_PLUGIN})


def report_monkeypatch(case: Path) -> str:
    """Library code that rewrites pytest's reports when it is imported."""
    return stubbed(case, REPORT_MONKEYPATCH)


HOSTILE = {
    "pytest-toml-plugin": pytest_toml_plugin,
    "sitecustomize": site_customize,
    "report-monkeypatch": report_monkeypatch,
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run of the feature project, and the cache it was built in (its own)."""
    cache = tmp_path_factory.mktemp("hostile-cache")
    return build_feature_run(tmp_path_factory.mktemp("hostile"), cache), cache


def predictions(path: Path, rows: list[tuple[str, str, str]]) -> str:
    with path.open("w") as out:
        for model, iid, patch in rows:
            row = {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}
            out.write(json.dumps(row) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def graded(hostile_run: tuple[Path, Path]) -> dict[str, Any]:
    """Every hostile model's report, then the poisoner's, then the empty self-check's after it."""
    run, cache = hostile_run
    case = case_dir(run, "test_textutil", 1)
    iid = instance(case)["instance_id"]
    rows = [(model, iid, make(case)) for model, make in HOSTILE.items()]
    reports = fbench_eval(run, cache, predictions(run.parent / "hostile.jsonl", rows))
    poison = [("poisoner", iid, stubbed(case, POISON))]
    reports.update(fbench_eval(run, cache, predictions(run.parent / "poison.jsonl", poison)))
    reports["empty-after-poison"] = fbench_eval(run, cache, "empty")["empty"]
    reports["iid"] = iid
    return reports


@pytest.mark.parametrize("model", sorted(HOSTILE))
def test_a_hostile_patch_is_not_resolved(graded: dict[str, Any], model: str) -> None:
    """The trick does not turn the stub's failures into passes."""
    row = graded[model]["instances"][graded["iid"]]
    assert row["status"] == "unresolved", row
    assert row["f2p_passed"] == 0


def test_library_code_reaching_for_pytest_is_flagged_suspicious(graded: dict[str, Any]) -> None:
    """Monkeypatching pytest's reports at import is named as such in both reports."""
    report = graded["report-monkeypatch"]
    row = report["instances"][graded["iid"]]
    assert row["suspicious"] is True
    assert "suspicious: non-test code imports pytest (geom/textutil.py)" in row["reason"]
    assert report["suspicious"] == [graded["iid"]]
    assert graded["pytest-toml-plugin"]["suspicious"] == []


def test_a_prediction_cannot_poison_the_environment_for_later_ones(
    hostile_run: tuple[Path, Path], graded: dict[str, Any]
) -> None:
    """Its writes to site-packages fail, and the empty self-check after it resolves nothing."""
    _, cache = hostile_run
    assert graded["poisoner"]["resolved_instances"] == 0
    assert graded["empty-after-poison"]["resolved_instances"] == 0
    assert not list(cache.glob("envs/*/venv/lib/*/site-packages/zz_settle*"))


def test_a_skipped_pass_to_pass_test_counts_as_failed(
    hostile_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """The gold patch with pass-to-pass tests made to skip is unresolved, and the report says why."""
    run, cache = hostile_run
    case = case_dir(run, "test_textutil", 1)
    tree = checked_out(case, tmp_path / "gold", "patch.diff")
    body = "    return len(text.split())\n"  # count_words, which test_counting.py runs
    changes: dict[str, tuple[str | None, str | None]] = {}
    for name in ("geom/__init__.py", "geom/textutil.py"):
        text = (tree / name).read_text()
        if name.endswith("textutil.py"):
            assert body in text
            text = "import unittest\n" + text.replace(body, "    raise unittest.SkipTest('no')\n")
        changes[name] = ((case / "repo" / name).read_text(), text)
    patch = diff_files(changes)
    iid = instance(case)["instance_id"]
    path = predictions(tmp_path / "skip.jsonl", [("skipper", iid, patch)])
    report = fbench_eval(run, cache, path, out=str(tmp_path / "reports"))["skipper"]
    row = report["instances"][iid]
    assert row["status"] == "unresolved"
    assert ": skipped" in row["reason"]
    assert GRADING_RULE in (tmp_path / "reports" / "skipper" / "report.md").read_text()


def test_patch_fuzz_applies_a_patch_with_a_wrong_context_line(
    hostile_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """One stale context line: patch failed with git apply, resolved with --patch-fuzz."""
    run, cache = hostile_run
    case = case_dir(run, "test_textutil", 1)
    gold = (case / "patch.diff").read_text()
    context = next(line for line in gold.splitlines() if line.startswith(" ") and line.strip())
    stale = gold.replace(f"\n{context}\n", f"\n {context[1:]}  # stale\n", 1)
    iid = instance(case)["instance_id"]
    path = predictions(tmp_path / "fuzz.jsonl", [("fuzzy", iid, stale)])
    strict = fbench_eval(run, cache, path, out=str(tmp_path / "strict"))["fuzzy"]
    assert strict["instances"][iid]["status"] == "patch failed"
    fuzzed = fbench_eval(run, cache, path, "--patch-fuzz", out=str(tmp_path / "fuzz"))["fuzzy"]
    assert fuzzed["instances"][iid]["status"] == "resolved", fuzzed["instances"][iid]


def test_a_library_module_collected_for_its_doctests_is_not_put_back(
    hostile_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """Edits to a pass-to-pass doctest module stay; edits to a pass-to-pass test file do not."""
    run, _ = hostile_run
    case = case_dir(run, "test_textutil", 1)
    info = instance(case)
    # As --doctest-modules makes it: a library module is a P2P file for its doctests.
    info["p2p_files"] = [*info["p2p_files"], "geom/shapes.py"]
    info["PASS_TO_PASS"] = [*info["PASS_TO_PASS"], "geom/shapes.py::geom.shapes.Circle.area"]
    tree = shutil.copytree(case / "repo", tmp_path / "tree")
    edited = {"geom/shapes.py": "raise RuntimeError('agent edit')\n"}
    edited[info["p2p_files"][0]] = "def test_nothing():\n    pass\n"
    for name, text in edited.items():
        (tree / name).write_text(text)
    restore_tests(tree, Case(case, info), tmp_path / "apply.log")
    assert (tree / "geom/shapes.py").read_text() == edited["geom/shapes.py"]
    p2p = info["p2p_files"][0]
    assert (tree / p2p).read_text() == (case / "repo" / p2p).read_text()


@pytest.mark.parametrize("name", PROTECTED, ids=lambda name: name.replace("*", "x"))
def test_every_steering_file_is_put_back_or_deleted_wherever_the_patch_puts_it(
    hostile_run: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    """At the root and in a package: the case's version comes back, an added one goes."""
    run, _ = hostile_run
    case = case_dir(run, "test_textutil", 1)
    tree = shutil.copytree(case / "repo", tmp_path / "tree")
    planted = [name.replace("*", "zz_hook"), f"geom/{name.replace('*', 'zz_hook')}"]
    for relative in planted:
        (tree / relative).write_text("import os  # the agent's version\n")
    restore_tests(tree, Case(case, instance(case)), tmp_path / "apply.log")
    for relative in planted:
        original = case / "repo" / relative
        if original.is_file():
            assert (tree / relative).read_text() == original.read_text(), relative
        else:
            assert not (tree / relative).exists(), relative


HOOKS = {
    "touches sys.modules": "import sys\nsys.modules['geom.textutil'].slugify = None\n",
    "touches builtins": "import builtins\nbuiltins.open = None\n",
    "sets an interpreter hook": "import sys\nsys.meta_path.insert(0, object())\n",
}


@pytest.mark.parametrize("why", sorted(HOOKS))
def test_library_code_reaching_for_the_interpreter_s_hooks_is_flagged(
    hostile_run: tuple[Path, Path], tmp_path: Path, why: str
) -> None:
    run, _ = hostile_run
    case = case_dir(run, "test_textutil", 1)
    tree = shutil.copytree(case / "repo", tmp_path / "tree")
    module = tree / "geom" / "textutil.py"
    module.write_text(module.read_text() + HOOKS[why])
    assert suspicious_changes(tree, Case(case, instance(case))) == [f"{why} (geom/textutil.py)"]
