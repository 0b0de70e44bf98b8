"""The local backend runs a project's code without network, within limits, without our secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.gitrepos import commit_files, setuptools_pyproject

SHOW_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalEnvironment, Path]:
    root = tmp_path_factory.mktemp("local")
    repo = root / "tiny"
    commit_files(
        repo,
        {"pyproject.toml": '[project]\nname = "tiny"\nversion = "0"\n', "tiny.py": "X = 1\n"},
        "tiny",
        1_700_000_000,
    )
    spec = RepoSpec(repository=str(repo), pip_packages=["pytest"])
    run_env = {"FEATURE_FLAG": "on", "OPENAI_API_KEY": "sk-secret", "GITHUB_TOKEN": "ghp-secret"}
    env = LocalEnvironment("tiny-test", spec, root / "cache", run_env)
    env.create(root / "create.log")
    env.install(repo, root / "install.log")
    return env, repo


def test_the_environment_is_complete_and_has_the_plugin(
    environment: tuple[LocalEnvironment, Path],
) -> None:
    env, repo = environment
    assert env.exists()
    done = env.run(
        ["python", "-c", "import tiny, pytest_featurebench.plugin; print(tiny.X)"],
        repo=repo,
        timeout=60,
    )
    assert done.ok, done.output
    assert done.output.strip() == "1"


def test_no_secret_of_ours_reaches_the_project(
    environment: tuple[LocalEnvironment, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Variables of the run pass through, keys and tokens do not, nor does our own environment."""
    env, repo = environment
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ours")
    monkeypatch.setenv("SOME_HOST_SETTING", "host")
    done = env.run(["python", "-c", SHOW_ENV], repo=repo, timeout=60)
    seen = json.loads(done.output)
    assert seen["FEATURE_FLAG"] == "on"
    assert not {"OPENAI_API_KEY", "GITHUB_TOKEN", "ANTHROPIC_API_KEY", "SOME_HOST_SETTING"} & set(
        seen
    )
    assert "sk-" not in done.output


def test_the_project_has_no_network_but_loopback(
    environment: tuple[LocalEnvironment, Path],
) -> None:
    env, repo = environment
    probe = (
        "import socket, urllib.request\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); print('loopback')\n"
        "try:\n    urllib.request.urlopen('https://pypi.org/simple/', timeout=5)\nexcept OSError:\n    print('offline')\n"
    )
    done = env.run(["python", "-c", probe], repo=repo, timeout=60)
    assert done.output.split() == ["loopback", "offline"]
    online = env.run(["python", "-c", probe], repo=repo, timeout=60, network=True)
    assert online.output.split() == ["loopback"]


def test_memory_is_limited(environment: tuple[LocalEnvironment, Path]) -> None:
    """An allocation past the address-space limit fails inside the project, not on the machine."""
    env, repo = environment
    done = env.run(["python", "-c", "bytearray(12 * 1024**3)"], repo=repo, timeout=60)
    assert not done.ok
    assert "MemoryError" in done.output


def test_a_timeout_kills_the_command(environment: tuple[LocalEnvironment, Path]) -> None:
    env, repo = environment
    done = env.run(["python", "-c", "import time; time.sleep(60)"], repo=repo, timeout=1)
    assert done.timed_out


def test_a_missing_msgspec_comes_in_the_plugins_own_pip_run(
    environment: tuple[LocalEnvironment, Path],
) -> None:
    _, repo = environment
    commands = [
        line
        for line in (repo.parent / "install.log").read_text().splitlines()
        if line.startswith("$ ")
    ]
    plugin = [line for line in commands if "featurebench_plugin" in line]
    assert len(plugin) == 1, commands
    assert plugin[0].endswith(" msgspec'"), plugin  # it was missing: pytest alone came
    assert sum("msgspec" in line for line in commands) == 1  # and no pip run of its own


def test_a_missing_pytest_is_installed_with_its_dependencies(tmp_path: Path) -> None:
    repo = tmp_path / "bare"
    commit_files(
        repo, {"pyproject.toml": '[project]\nname = "bare"\nversion = "0"\n'}, "bare", 1_700_000_000
    )
    env = LocalEnvironment("bare-test", RepoSpec(repository=str(repo)), tmp_path / "cache")
    env.create(tmp_path / "create.log")
    env.install(repo, tmp_path / "install.log")
    probe = "import msgspec, pluggy, pytest, pytest_featurebench.plugin; print('ok')"
    done = env.run(["python", "-c", probe], repo=repo, timeout=60)
    assert done.output.strip() == "ok", done.output


def test_a_pip_package_that_needs_the_project_keeps_the_work_tree_installed(
    tmp_path: Path,
) -> None:
    """pytest needs iniconfig: a spec of iniconfig's own repository (whose untagged work
    tree builds as 0.1.dev1) once ran its tests against PyPI's iniconfig, since pip
    replaced the editable install when pip_packages came after it. Here a released
    ``tinyini`` 2.0 (a directory standing in for the index) and a package needing it."""
    repo = tmp_path / "tinyini"  # a src layout: the current directory does not hold it
    src_layout = setuptools_pyproject("tinyini", '[tool.setuptools.package-dir]\n"" = "src"\n')
    module = {"src/tinyini/__init__.py": "WHERE = 'work tree'\n"}
    commit_files(repo, {"pyproject.toml": src_layout, **module}, "tiny", 1)
    released = tmp_path / "released"
    (released / "tinyini").mkdir(parents=True)
    (released / "pyproject.toml").write_text(
        setuptools_pyproject("tinyini").replace('"0.1"', '"2.0"')
    )
    (released / "tinyini" / "__init__.py").write_text("WHERE = 'index'\n")
    needer = tmp_path / "needer"
    (needer / "needer").mkdir(parents=True)
    pyproject = setuptools_pyproject("needer").replace(
        'version = "0.1"', 'version = "1"\ndependencies = ["tinyini>=2"]'
    )
    (needer / "pyproject.toml").write_text(pyproject)
    (needer / "needer" / "__init__.py").write_text("")
    spec = RepoSpec(repository=str(repo), pip_packages=[str(released), str(needer), "pytest"])
    env = LocalEnvironment("needs-test", spec, tmp_path / "cache")
    env.create(tmp_path / "create.log")
    env.install(repo, tmp_path / "install.log")
    probe = "import needer, tinyini; print(tinyini.WHERE, tinyini.__file__)"
    done = env.run(["python", "-c", probe], repo=repo, timeout=60)
    assert done.ok, done.output
    where, path = done.output.strip().rsplit(" ", 1)[0], done.output.split()[-1]
    assert where == "work tree"
    assert Path(path).resolve().is_relative_to(repo.resolve())


def test_test_ids_drawn_from_a_set_are_the_same_in_every_run(
    environment: tuple[LocalEnvironment, Path], tmp_path: Path
) -> None:
    """isodate parametrizes over a set: ``test_format[4-19-expected13-%C]`` took its index
    from the set's order, so each process named the tests anew, and the traced run's ids
    matched none of the runner's. String hashing is fixed for every run of the project."""
    env, _ = environment
    (tmp_path / "test_set.py").write_text(
        "import pytest\n\n"
        "CASES = {(s, frozenset({s})) for s in 'abcdefghijkl'}\n\n"
        "@pytest.mark.parametrize('name,value', CASES)\n"
        "def test_case(name, value):\n    assert name in value\n"
    )
    command = ["python", "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    runs = [env.run([*command, "test_set.py"], repo=tmp_path, timeout=60) for _ in range(3)]
    ids = [[line for line in run.output.splitlines() if "::" in line] for run in runs]
    assert len(ids[0]) == 12, runs[0].output
    assert ids[1:] == [ids[0], ids[0]]
