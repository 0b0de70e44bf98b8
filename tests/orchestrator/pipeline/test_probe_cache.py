"""Probe results reused by content: one probe per environment, tree content, tests,
options and repetition; real pytest sessions in a real uv environment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.errors import StageError
from orchestrator.pipeline import warm_probes
from orchestrator.pipeline.probe_cache import REUSED, ProbeCache, tree_digest
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.stages.data_checks import Runner
from tests.support.projects import installed_environment, write_tree

FILES = {
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "1"\n',
    "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    "tests/test_double.py": (
        "import time\nfrom pkg import double\n\n"
        "def test_double():\n    assert double(2) == 4\n\n"
        "def test_slow_when_asked():\n"
        "    import os\n"
        "    if os.path.exists('slow'):\n"
        "        time.sleep(60)\n"
    ),
}


@pytest.fixture(autouse=True)
def cold_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every tree here is its own directory, which would start a warm worker per probe.
    monkeypatch.setenv(warm_probes.SWITCH, "0")


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> LocalEnvironment:
    work = tmp_path_factory.mktemp("probe-cache")
    return installed_environment(write_tree(work / "project", FILES), work, "probecache")


def runner(environment: LocalEnvironment, logs: Path, cache: Path, **spec: object) -> Runner:
    settings = RepoSpec(repository="x", pip_packages=["pytest"], **spec)  # type: ignore[arg-type]
    return Runner(
        environment, settings, logs, "SPEC", "tests/test_double.py", ["."], probes=ProbeCache(cache)
    )


def reused(logs: Path, step: str) -> bool:
    log = logs / "f2p_validate" / "SPEC" / f"tests_test_double.py.{step}.log"
    return log.read_text().startswith(REUSED)


def test_tree_digest_is_content_alone(tmp_path: Path) -> None:
    one = write_tree(tmp_path / "one", FILES)
    two = write_tree(tmp_path / "two", FILES)
    for junk in (".git/index", "pkg/__pycache__/x.pyc", ".pytest_cache/v/lastfailed"):
        write_tree(two, {junk: "anything"})
    assert tree_digest(one) == tree_digest(two)
    changes = [
        lambda t: (t / "pkg" / "__init__.py").write_text(FILES["pkg/__init__.py"] + " "),
        lambda t: (t / "pkg" / "__init__.py").chmod(0o755),
        lambda t: (t / "pkg" / "extra").mkdir(),  # an empty directory imports as a package
        lambda t: (t / "link").symlink_to("pkg"),
    ]
    for change in changes:
        tree = shutil.copytree(one, tmp_path / f"changed{changes.index(change)}", symlinks=True)
        change(tree)
        assert tree_digest(tree) != tree_digest(one)


def test_same_content_elsewhere_is_reused_and_a_rerun_is_not(
    environment: LocalEnvironment, tmp_path: Path
) -> None:
    run = runner(environment, tmp_path / "logs", tmp_path / "probes")
    first = write_tree(tmp_path / "first", FILES)
    second = write_tree(tmp_path / "second", FILES)
    gold = run.pytest(first, [run.file], "f2p_validate", "gold")
    again = run.pytest(second, [run.file], "f2p_validate", "faithful")
    assert not reused(tmp_path / "logs", "gold")
    assert reused(tmp_path / "logs", "faithful")
    assert (
        again.outcomes()
        == gold.outcomes()
        == {
            "tests/test_double.py::test_double": "passed",
            "tests/test_double.py::test_slow_when_asked": "passed",
        }
    )
    logs = tmp_path / "logs" / "f2p_validate" / "SPEC"
    stored = (logs / "tests_test_double.py.gold.jsonl").read_bytes()
    assert (logs / "tests_test_double.py.faithful.jsonl").read_bytes() == stored
    run.pytest(first, [run.file], "f2p_validate", "stable1", rerun=1)  # re-checks gold
    assert not reused(tmp_path / "logs", "stable1")
    assert (logs / "tests_test_double.py.stable1.jsonl").read_bytes() != stored
    # Another repetition elsewhere is the same probe as that rerun.
    run.pytest(second, [run.file], "f2p_validate", "stable1b", rerun=1)
    assert reused(tmp_path / "logs", "stable1b")


def test_another_content_test_or_option_runs(environment: LocalEnvironment, tmp_path: Path) -> None:
    run = runner(environment, tmp_path / "logs", tmp_path / "probes")
    tree = write_tree(tmp_path / "tree", FILES)
    run.pytest(tree, [run.file], "f2p_validate", "gold")
    run.pytest(tree, [f"{run.file}::test_double"], "f2p_validate", "one")
    (tree / "pkg" / "__init__.py").write_text("def double(x):\n    return x + x\n")
    run.pytest(tree, [run.file], "f2p_validate", "edited")
    last_failed = runner(
        environment, tmp_path / "logs", tmp_path / "probes", test_cmd=["pytest", "--lf"]
    )
    last_failed.pytest(tree, [run.file], "f2p_validate", "lf1")
    last_failed.pytest(tree, [run.file], "f2p_validate", "lf2")
    for step in ("one", "edited", "lf1", "lf2"):
        assert not reused(tmp_path / "logs", step), step


def test_an_unfinished_session_is_not_stored(environment: LocalEnvironment, tmp_path: Path) -> None:
    run = runner(environment, tmp_path / "logs", tmp_path / "probes", timeout_run=3)
    tree = write_tree(tmp_path / "tree", {**FILES, "slow": ""})
    for step in ("first", "second"):
        with pytest.raises(StageError, match="timed out"):
            run.pytest(tree, [run.file], "f2p_validate", step)
    assert not (tmp_path / "probes").exists()
    assert not reused(tmp_path / "logs", "second")
