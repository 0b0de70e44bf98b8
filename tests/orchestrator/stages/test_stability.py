"""Flaky and order-dependent tests: told apart by the runner and by the final reruns."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, cast

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.engine import RunContext, SpecState, WorkItem
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import RepoSpec, Spec
from orchestrator.pipeline.storage import ResultCache
from orchestrator.stages.data_checks import Dropped, Runner, Verdict
from orchestrator.stages.runner import RunnerStage
from orchestrator.stages.stability import confirm_stable, rerun_unstable, unstable_tests
from tests.support.projects import installed_environment, write_tree

FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "orders"\nversion = "0"\n[tool.setuptools]\npackages = ["orders"]\n'
    ),
    "orders/__init__.py": "SEEN = []\n",
    # test_clean fails whenever test_dirties ran before it in the same session.
    "tests/test_polluted.py": (
        "from orders import SEEN\n\n\ndef test_dirties():\n    SEEN.append(1)\n\n\n"
        "def test_clean():\n    assert SEEN == []\n"
    ),
    # test_uses passes only when test_fill ran before it.
    "tests/test_needs_first.py": (
        "from orders import SEEN\n\n\ndef test_fill():\n    SEEN.append(2)\n\n\n"
        "def test_uses():\n    assert 2 in SEEN\n"
    ),
    "tests/test_also_needs.py": (
        "from orders import SEEN\n\n\ndef test_fill():\n    SEEN.append(2)\n\n\n"
        "def test_uses():\n    assert 2 in SEEN\n"
    ),
    # Fails on its first run in a tree, passes after: flaky, but predictably so.
    "tests/test_once.py": (
        "from pathlib import Path\n\n\ndef test_once():\n"
        "    marker = Path(__file__).with_name('.ran')\n"
        "    first = not marker.exists()\n    marker.write_text('x')\n    assert not first\n"
    ),
}


@pytest.mark.parametrize(
    ("usual", "other", "expected"),
    [
        ([{"t": "passed"}, {"t": "passed"}], [{"t": "passed"}], {}),
        ([{"t": "failed"}, {"t": "failed"}], [{"t": "failed"}], {}),
        ([{"t": "passed"}, {"t": "failed"}], [{"t": "passed"}], {"t": "flaky"}),
        ([{"t": "passed"}], [{"t": "failed"}, {"t": "passed"}], {"t": "flaky"}),
        ([{"t": "failed"}, {"t": "failed"}], [{"t": "passed"}], {"t": "order-dependent"}),
        ([{"t": "passed"}, {"t": "passed"}], [{"t": "error"}], {"t": "order-dependent"}),
        ([{"t": "failed"}], [{}], {}),
    ],
)
def test_the_kind_follows_from_where_outcomes_disagree(
    usual: list[dict[str, str]], other: list[dict[str, str]], expected: dict[str, str]
) -> None:
    """Disagreement within one order is flaky; a steady difference between orders is the order."""
    assert unstable_tests(usual, other, ["t"]) == expected


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalEnvironment, Path]:
    """A real virtualenv with the project installed, and the project's tree."""
    root = tmp_path_factory.mktemp("orders")
    tree = write_tree(root / "orders", FILES)
    return installed_environment(tree, root, "orders"), tree


def fresh_tree(source: Path, into: Path) -> Path:
    return Path(shutil.copytree(source, into, ignore=shutil.ignore_patterns(".ran", "*.egg-info")))


def test_the_runner_names_flaky_and_order_dependent_tests(
    environment: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """A test broken by the one before it is order-dependent; one that failed once is flaky."""
    env, source = environment
    tree = fresh_tree(source, tmp_path / "tree")
    spec = RepoSpec(repository=str(tree), rerun_failed=1)
    state = SpecState(Spec("SPECS_ORDERS", spec))
    state.values.update(environment=env, checkout=Checkout(tree, "0" * 40, "orders"))
    ctx = RunContext(
        tmp_path, ResultCache(tmp_path / "c"), ResultCache(tmp_path / "j"), 1, 0,
        tmp_path / "logs", tmp_path, tmp_path, "local",
    )  # fmt: skip
    stage = RunnerStage()
    found = {
        file: stage.run(ctx, state, WorkItem(file, {}))
        for file in ("tests/test_polluted.py", "tests/test_once.py", "tests/test_needs_first.py")
    }
    assert found["tests/test_polluted.py"].status == "flaky"
    assert found["tests/test_polluted.py"].data["unstable"] == {
        "tests/test_polluted.py::test_clean": "order-dependent"
    }
    assert found["tests/test_once.py"].data["unstable"] == {
        "tests/test_once.py::test_once": "flaky"
    }
    assert found["tests/test_needs_first.py"].status == "ok"  # in file order, it passes


def test_the_final_reruns_catch_what_the_file_order_hides(
    environment: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """Reversed, a test that needs another first fails; a test that fails once is flaky."""
    env, source = environment
    tree = fresh_tree(source, tmp_path / "tree")
    spec = RepoSpec(repository=str(tree))
    runner = Runner(
        env, spec, tmp_path / "logs", "SPECS_ORDERS", "tests/test_needs_first.py", ["."]
    )
    tests = [
        "tests/test_needs_first.py::test_fill",
        "tests/test_needs_first.py::test_uses",
        "tests/test_once.py::test_once",
    ]
    files = ["tests/test_needs_first.py", "tests/test_once.py"]
    assert rerun_unstable(runner, tree, files, tests, runs=3) == {
        "tests/test_needs_first.py::test_uses": "order-dependent",
        "tests/test_once.py::test_once": "flaky",
    }
    assert rerun_unstable(runner, tree, files, tests[:1], runs=0) == {}


def _verdict(
    fail_to_pass: list[str], pass_to_pass: list[str], p2p_files: tuple[str, ...] = ()
) -> Verdict:
    """Only the test lists matter to the reruns; masking's results are not read."""
    masked, classification = cast(Any, None), cast(Any, None)
    return Verdict(masked, classification, fail_to_pass, pass_to_pass, [*p2p_files], 1.0, [])


def test_an_order_dependent_pass_to_pass_test_leaves_the_case_not_the_case_itself(
    environment: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """pathspec's IterTreeTest numbers its tests: test_02_link_* need test_02_link_1 first.
    As P2P they fail only reversed, so they leave PASS_TO_PASS; as F2P the case drops."""
    env, source = environment
    tree = fresh_tree(source, tmp_path / "tree")
    file = "tests/test_needs_first.py"
    runner = Runner(env, RepoSpec(repository=str(tree)), tmp_path / "logs", "S", file, ["."])
    fill, uses = f"{file}::test_fill", f"{file}::test_uses"
    verdict = _verdict([fill], [uses, DIRTIES], (POLLUTED,))
    confirm_stable(runner, tree, verdict, runs=2)
    assert (verdict.pass_to_pass, verdict.p2p_files) == ([DIRTIES], [POLLUTED])
    assert verdict.notes == [f"left out of PASS_TO_PASS, order-dependent: {uses} (order-dependent)"]
    with pytest.raises(Dropped, match=r"1 unstable: .*test_uses \(order-dependent\)"):
        confirm_stable(runner, tree, _verdict([uses], []), runs=2)


POLLUTED = "tests/test_polluted.py"
DIRTIES = f"{POLLUTED}::test_dirties"
ALSO = "tests/test_also_needs.py"


def test_a_p2p_file_left_without_tests_leaves_the_case_and_too_few_files_drop_it(
    environment: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """Grading restores a P2P file with no PASS_TO_PASS test over the agent's work (it cannot
    tell a doctest module by its items then): it goes, and min_p2p_files is checked again."""
    env, source = environment
    tree = fresh_tree(source, tmp_path / "tree")
    file = "tests/test_needs_first.py"
    fill, uses, also = f"{file}::test_fill", f"{file}::test_uses", f"{ALSO}::test_uses"
    for need in (0, 1):
        spec = RepoSpec(repository=str(tree), min_p2p_files=need)
        runner = Runner(env, spec, tmp_path / f"logs{need}", "S", file, ["."])
        verdict = _verdict([fill], [uses, also], (ALSO,))
        if need:
            with pytest.raises(Dropped, match="leave too few P2P files; need 1"):
                confirm_stable(runner, tree, verdict, runs=2)
        else:
            confirm_stable(runner, tree, verdict, runs=2)
            assert (verdict.pass_to_pass, verdict.p2p_files) == ([], [])
