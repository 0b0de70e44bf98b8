"""Every environment manager passes the same contract, for real: no tool is faked.

conda is the one exception allowed to skip: no conda channel is reachable from
these machines, so its test runs only where conda, mamba or micromamba is installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.environments import Environment, make_environment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.contexts import scratch_context
from tests.support.gitrepos import commit_files

BACKENDS = ("uv", "venv", "conda")
FLIT = '[build-system]\nrequires = ["flit_core>=3.4"]\nbuild-backend = "flit_core.buildapi"\n'


def library(root: Path, name: str) -> Path:
    """A tiny real library on disk, built by pip from its directory."""
    (root / name).mkdir(parents=True)
    meta = f'[project]\nname = "{name}"\nversion = "1.0"\ndescription = "x"\n'
    (root / name / "pyproject.toml").write_text(FLIT + meta)
    (root / name / f"{name}.py").write_text(f"NAME = {name!r}\n")
    return root / name


@pytest.fixture(scope="module", params=BACKENDS)
def made(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Environment, Path]]:
    """An environment of each backend, created and with a tiny project installed."""
    work = tmp_path_factory.mktemp(request.param)
    repo = work / "tiny"
    commit_files(
        repo,
        {
            "pyproject.toml": FLIT + '[project]\nname = "tiny"\nversion = "0"\ndescription = "x"\n',
            "tiny.py": "X = 1\n",
        },
        "tiny",
        1_700_000_000,
    )
    spec = RepoSpec(repository=str(repo), env_manager=request.param)
    env = make_environment(scratch_context(work, "local"), f"contract-{request.param}", spec)
    if request.param == "conda" and not env.check_availability():
        pytest.skip("no conda, mamba or micromamba installed here (no conda channel is reachable)")
    env.create(work / "create.log")
    env.install(repo, work / "install.log")
    yield env, work
    env.remove()


def test_create_and_install_make_an_environment_that_exists(made: tuple[Environment, Path]) -> None:
    env, _ = made
    assert env.check_availability()
    assert env.exists()


def test_dependencies_install_from_each_of_the_three_sources(
    made: tuple[Environment, Path],
) -> None:
    """A requirements file, a list of requirements and a library's directory."""
    env, work = made
    (work / "requirements.txt").write_text(f"{library(work / 'src', 'alpha')}\n")
    env.install_py_deps(work / "requirements.txt", work / "deps.log")
    env.install_py_deps([str(library(work / "src", "beta"))], work / "deps.log")
    env.install_py_deps(library(work / "src", "gamma"), work / "deps.log")
    # Run in the project's tree: the sandbox shows a command its work tree and the
    # environment, and the project's editable install points into that tree.
    check = "import alpha, beta, gamma, tiny; print(gamma.NAME)"
    done = env.run_cmd(["python", "-c", check], cwd=work / "tiny")
    assert done.ok, done.output
    assert done.output.strip() == "gamma"


def test_run_cmd_runs_in_the_environment(made: tuple[Environment, Path]) -> None:
    env, work = made
    done = env.run_cmd(["python", "-c", "import sys; print(sys.prefix)"], cwd=work, timeout=60)
    assert done.ok, done.output
    assert done.output.strip().startswith(str(work / "cache" / "envs"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_availability_is_false_without_the_tool(backend: str, tmp_path: Path) -> None:
    env = make_environment(scratch_context(tmp_path, backend), "k", RepoSpec(repository="x"))
    env.search_path = str(tmp_path)  # type: ignore[attr-defined]
    assert not env.check_availability()


def test_remove_deletes_the_environment(tmp_path: Path) -> None:
    env = make_environment(scratch_context(tmp_path, "venv"), "gone", RepoSpec(repository="x"))
    env.create(tmp_path / "create.log")
    assert (tmp_path / "cache" / "envs" / "gone" / "venv" / "bin" / "python").exists()
    env.remove()
    assert not env.exists()
    assert not (tmp_path / "cache" / "envs" / "gone").exists()


def test_docker_is_unavailable_without_a_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker's tool is its daemon: with none at $DOCKER_HOST, check_availability is false."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    env = make_environment(scratch_context(tmp_path, "docker"), "k", RepoSpec(repository="x"))
    assert not env.check_availability()
