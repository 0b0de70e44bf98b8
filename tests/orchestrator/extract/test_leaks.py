"""The leak scan reads a real environment: the project's installed files fully, others strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.extract.leaks import (
    distinctive_lines,
    leak_hint,
    scan_environment,
    third_party_marks,
)
from orchestrator.extract.masking import locate
from orchestrator.pipeline.specs import RepoSpec
from tests.support.gitrepos import commit_files

# A short generic method, written the same way by many projects, and a long distinctive body.
CACHE = '''\
class Cache:
    def __init__(self):
        self._data = {}

    def get(self, key, default=None):
        """The value under ``key``, or ``default``."""
        return self._data.get(key, default)


def plan_evictions(entries, budget, weights=None):
    """The keys to evict, heaviest and oldest first, until the entries fit ``budget``."""
    weights = weights or {key: len(repr(value)) for key, value in entries.items()}
    ordered = sorted(entries, key=lambda key: (-weights[key], entries[key].stamp))
    total_weight = sum(weights.values())
    evicted_keys = []
    for candidate_key in ordered:
        if total_weight <= budget:
            break
        total_weight -= weights[candidate_key]
        evicted_keys.append(candidate_key)
    return evicted_keys
'''

# What a third-party package holds of its own: the same generic method, nothing copied.
GENERIC = '''\
class Mapping:
    def get(self, key, default=None):
        """The value under ``key``, or ``default``."""
        return self._data.get(key, default)
'''


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalEnvironment, Path, Path]:
    root = tmp_path_factory.mktemp("leaks")
    repo = root / "cachey"
    commit_files(repo, {"cachey/__init__.py": "", "cachey/core.py": ""}, "cachey", 1_700_000_000)
    env = LocalEnvironment("leaks-test", RepoSpec(repository=str(repo)), root / "cache")
    env.create(root / "create.log")
    found = env.run(
        ["python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        repo=repo,
        timeout=60,
    )
    assert found.ok, found.output
    return env, repo, Path(found.output.strip().splitlines()[-1])


def marks() -> dict[str, list[str]]:
    removed = [locate(CACHE, name, "cachey/core.py") for name in ("Cache.get", "plan_evictions")]
    return distinctive_lines([r for r in removed if r is not None], [])


def scan_with(
    environment: tuple[LocalEnvironment, Path, Path], installed: dict[str, str], log: Path
) -> list[str]:
    """The scan's findings, relative to site-packages, with ``installed`` put there for it."""
    env, repo, site = environment
    for path, text in installed.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(text)
    try:
        return sorted(f.replace(f"{site}/", "") for f in scan_environment(env, repo, marks(), log))
    finally:
        for path in installed:
            (site / path).unlink()


def test_only_long_bodies_are_looked_for_in_third_party_files() -> None:
    """Cache.get is short and generic, plan_evictions long enough that a match means a copy."""
    assert set(third_party_marks(marks())) == {"cachey/core.py::plan_evictions"}


def test_a_generic_method_in_a_third_party_package_is_not_a_leak(
    environment: tuple[LocalEnvironment, Path, Path], tmp_path: Path
) -> None:
    assert scan_with(environment, {"vendored/distlib/compat.py": GENERIC}, tmp_path / "log") == []


def test_a_copy_in_a_third_party_package_is_a_leak(
    environment: tuple[LocalEnvironment, Path, Path], tmp_path: Path
) -> None:
    found = scan_with(environment, {"copier/_vendor/cachey_copy.py": CACHE}, tmp_path / "log")
    assert found == ["cachey/core.py::plan_evictions in copier/_vendor/cachey_copy.py"]


def test_a_copy_in_a_third_party_package_names_the_way_out() -> None:
    """setuptools vendors more-itertools: the drop says how the spec leaves it out."""
    leak = "more.py::adjacent in /env/lib/python3.11/site-packages/setuptools/_vendor/more.py"
    assert leak_hint(leak) == (
        "; setuptools is installed with a copy: if the tests do not need it, end the spec's"
        " install with '&& pip uninstall -y setuptools'"
    )
    assert leak_hint("more.py::adjacent in more_itertools/more.py") == ""
    assert leak_hint("x.py::f in /env/lib/python3.11/site-packages/x.py") == ""


def test_the_projects_own_installed_files_are_scanned_fully(
    environment: tuple[LocalEnvironment, Path, Path], tmp_path: Path
) -> None:
    """A non-editable install of the project leaks even the short method."""
    assert scan_with(environment, {"cachey/core.py": CACHE}, tmp_path / "log") == [
        "cachey/core.py::Cache.get in cachey/core.py",
        "cachey/core.py::plan_evictions in cachey/core.py",
    ]
