"""``fbench build-cases --backend docker`` up to the runner, on a private Docker engine.

The engine is a ``dockerd`` of this session (tests/support/dockerd.py) with a Debian
rootfs imported from the cache: no registry is needed. Building images downloads from
PyPI, hence the ``network`` marks.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments.docker import LABEL, DockerEnvironment
from orchestrator.environments.docker_args import parse_docker_args
from orchestrator.environments.docker_engine import LEASE_LABEL
from orchestrator.errors import CommandError, UsageError
from orchestrator.pipeline.pytest_runs import run_pytest
from orchestrator.pipeline.specs import DockerSpecs, RepoSpec, RunArgs
from tests.orchestrator.small_project import assert_runner_verdicts, make_small_project
from tests.support.contexts import scratch_context
from tests.support.dockerd import Dockerd

# In tiny's source only: the instance image must not hold it anywhere.
SOURCE_MARKER = "fbench-source-marker-5e1f0c7a"


def build_cases(tmp: Path, spec: dict[str, object], *args: str) -> Path:
    """Write ``SPECS_ONE`` and run build-cases on the docker backend; return the run dir."""
    specs = tmp / "specs.py"
    specs.write_text(f"SPECS_ONE = {spec!r}\n")
    command = ["build-cases", "--backend", "docker", "--config-path", str(specs)]
    command += ["--output-dir", str(tmp / "out"), "--debug", "end=runner", *args]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (run,) = (tmp / "out").glob("[0-9]*/*")
    return run


def files_status(run: Path) -> dict[str, dict[str, object]]:
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())
    return status["SPECS_ONE"]["files"]


def stage_summary(run: Path) -> dict[str, dict[str, int]]:
    return json.loads((run / "metadata_outputs" / "summary.json").read_text())["stages"]


def instance_images(daemon: Dockerd) -> set[str]:
    with contextlib.closing(daemon.client()) as client:
        return {image.id for image in client.images.list(filters={"label": LABEL})}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("small")
    # A relative marker lands in the work tree, which every container of the run shares.
    make_small_project(root / "shapes", marker=Path("flaky-marker"))
    return {"repository": str(root / "shapes"), "pip_packages": ["pytest"], "rerun_failed": 1}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def first_run(
    engine: Dockerd,
    shapes: dict[str, object],
    cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    return build_cases(tmp_path_factory.mktemp("run"), shapes, "--cache-dir", str(cache))


@pytest.mark.network
def test_the_runner_tells_passing_failing_and_flaky_files_apart(first_run: Path) -> None:
    """In containers: clean files pass, the network test fails (no network), flaky is named."""
    assert_runner_verdicts(files_status(first_run))


@pytest.mark.network
def test_the_records_come_out_of_the_container(first_run: Path) -> None:
    """Collection counts come from the plugin's records, written through the mounts."""
    files = files_status(first_run)
    assert {path: info["tests"] for path, info in files.items()} == {
        "tests/test_circle.py": 2,
        "tests/test_flaky.py": 2,
        "tests/test_network.py": 2,
        "tests/test_square.py": 2,
    }
    logs = first_run / "logs"
    assert (logs / "test_scanner" / "SPECS_ONE.jsonl").stat().st_size > 0
    instance_log = (logs / "instance" / "SPECS_ONE.log").read_text()
    assert "featurebench/instance:" in instance_log
    # The base image may come from an earlier test of this session's engine.
    assert "# base image featurebench/base:3.11-" in instance_log


@pytest.mark.network
def test_a_second_run_reuses_the_instance_image(
    engine: Dockerd, first_run: Path, shapes: dict[str, object], cache: Path, tmp_path: Path
) -> None:
    """Same install, same image; the runner runs again in it when its cache is off."""
    before = instance_images(engine)
    run = build_cases(
        tmp_path, shapes, "--cache-dir", str(cache), "--debug", "end=runner, runner=False"
    )
    assert instance_images(engine) == before
    assert stage_summary(run)["runner"]["cached"] == 0
    # The marker from the first run is in the work tree now: the flaky test passes at once.
    assert files_status(run)["tests/test_flaky.py"]["runner"]["status"] == "ok"


@pytest.mark.network
def test_cachetools_sdist_to_the_runner(engine: Dockerd, tmp_path: Path) -> None:
    """A real library from its PyPI sdist: it installs in the image and its files pass."""
    spec = {"repository": "pypi:cachetools==5.5.2", "pip_packages": ["pytest"], "max_f2p_num": 3}
    files = files_status(build_cases(tmp_path, spec, "--cache-dir", str(tmp_path / "cache")))
    assert len(files) == 12
    passed = [path for path, info in files.items() if info["runner"]["status"] == "ok"]
    assert len(passed) >= 10, files
    assert sum(bool(info["f2p_candidate"]) for info in files.values()) == 3


@pytest.fixture(scope="module")
def tiny(engine: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEnvironment]:
    """An environment of a one-file repository, built by hand, with a secret in run_env."""
    work = tmp_path_factory.mktemp("tiny")
    (work / "repo").mkdir()
    (work / "repo" / "hello.py").write_text(f"GREETING = 'hi'\nMARKER = {SOURCE_MARKER!r}\n")
    (work / "repo" / "alt").mkdir()
    ctx = scratch_context(
        work, "docker", {"OPENAI_API_KEY": "sk-not-for-tests", "FROM_CONFIG": "yes"}
    )
    docker_specs = DockerSpecs(custom_docker_args=["-e", "FOO=bar", "--env=SPACED=a b"])
    install = """echo "GENERATED = 'by the install'" > generated.py"""
    spec = RepoSpec(repository="tiny/tiny", install=install, docker_specs=docker_specs)
    environment = DockerEnvironment("tiny0000", spec, ctx)
    log = ctx.logs_dir / "instance.log"
    environment.create(log)
    environment.install(work / "repo", log)
    yield environment
    environment.remove()


def python(environment: DockerEnvironment, code: str, **options: object) -> str:
    repo = environment.ctx.cache_dir.parent / "repo"
    result = environment.run(["python", "-c", code], repo=repo, timeout=60, **options)
    assert result.ok, result.output
    return result.output.strip()


@pytest.mark.network
def test_custom_docker_args_reach_the_container_and_secrets_do_not(tiny: DockerEnvironment) -> None:
    """-e from the spec and the run's variables arrive; OPENAI_API_KEY stays out."""
    code = "import os; print([os.environ.get(n) for n in ('FOO', 'SPACED', 'FROM_CONFIG', 'OPENAI_API_KEY')])"
    assert python(tiny, code) == "['bar', 'a b', 'yes', None]"


@pytest.mark.network
def test_only_the_work_tree_and_the_writable_directories_are_mounted(
    tiny: DockerEnvironment,
) -> None:
    """/testbed and the named directories are writable; the rest of the run is not there,
    and the image itself, the environment included, is read-only."""
    records = tiny.ctx.logs_dir / "private"
    records.mkdir()
    other = tiny.ctx.root / "evaluations" / "other-model"
    other.mkdir(parents=True)
    (other / "report.json").write_text("{}")
    code = f"""
import hello, os, pathlib
pathlib.Path({str(records / "out.txt")!r}).write_text(hello.GREETING)
print(os.path.exists({str(other)!r}), os.path.exists({str(tiny.ctx.root / "cases")!r}))
for place in ("/testbed", "/tmp", "/root", "/opt/venv/lib", "/usr/lib", "/etc"):
    try:
        pathlib.Path(place, "probe").write_text("x")
        print(place, "writable")
    except OSError:
        print(place, "read-only")
"""
    log = tiny.ctx.logs_dir / "mounts.log"
    (tiny.ctx.root / "cases").mkdir()
    assert python(tiny, code, log=log, writable=[records]).splitlines() == [
        "False False",
        "/testbed writable",
        "/tmp writable",
        "/root writable",
        "/opt/venv/lib read-only",
        "/usr/lib read-only",
        "/etc read-only",
    ]
    assert (records / "out.txt").read_text() == "hi"
    (tiny.ctx.cache_dir.parent / "repo" / "probe").unlink()
    assert log.read_text().startswith("$ /opt/venv/bin/python -c ")
    assert "# exit 0 after" in log.read_text()


@pytest.mark.network
def test_a_process_that_outlives_its_pytest_session_gets_a_grace_then_dies(
    tiny: DockerEnvironment, tmp_path: Path
) -> None:
    """A thread still blocked after the session ended: killed after the grace, and the
    session's own exit status stands (as with the local backend)."""
    repo = tmp_path / "repo"
    shutil.copytree(tiny.ctx.cache_dir.parent / "repo", repo, symlinks=True)
    (repo / "test_hangs.py").write_text(
        "import threading, time\n\n"
        "def test_leaves_a_thread_behind():\n"
        "    threading.Thread(target=time.sleep, args=(300,)).start()\n"
    )
    run = run_pytest(
        tiny,
        ["pytest", "-p", "no:cacheprovider", "test_hangs.py"],
        repo=repo,
        records=tmp_path / "records.jsonl",
        timeout=240,
        log=tmp_path / "pytest.log",
    )
    assert run.result.stopped_after_grace
    assert run.result.returncode == 0
    assert not run.result.timed_out
    assert run.result.duration < 60
    assert run.outcomes() == {"test_hangs.py::test_leaves_a_thread_behind": "passed"}
    assert "killed: still running after its work was done" in (tmp_path / "pytest.log").read_text()


@pytest.mark.network
def test_what_the_install_wrote_reaches_the_work_tree(tiny: DockerEnvironment) -> None:
    """The install ran against the host's work tree: its products are there."""
    assert python(tiny, "import generated; print(generated.GENERATED)") == "by the install"
    repo = tiny.ctx.cache_dir.parent / "repo"
    assert (repo / "generated.py").read_text() == "GENERATED = 'by the install'\n"


def saved_image_contains(engine: Dockerd, tag: str, needles: list[bytes]) -> dict[bytes, bool]:
    """Which of ``needles`` occur in ``docker save`` of ``tag``: every layer, config and history."""
    found = dict.fromkeys(needles, False)
    overlap = max(map(len, needles))
    previous = b""
    with contextlib.closing(engine.client()) as client:
        for chunk in client.images.get(tag).save(chunk_size=1 << 20):
            window = previous + chunk  # a needle may straddle two chunks
            for needle in needles:
                found[needle] = found[needle] or needle in window
            previous = window[-overlap:]
    return found


@pytest.mark.network
def test_the_instance_image_holds_no_project_source(
    engine: Dockerd, tiny: DockerEnvironment
) -> None:
    """No layer of the image has the work tree's text; mounted, the work tree still imports."""
    marker, plugin = SOURCE_MARKER.encode(), b"pytest_featurebench"
    assert saved_image_contains(engine, tiny.tag, [marker, plugin]) == {
        marker: False,
        plugin: True,  # the scan does see what the install put into the layers
    }
    assert python(tiny, "import hello; print(hello.MARKER)") == SOURCE_MARKER
    with contextlib.closing(engine.client()) as client:
        config = client.images.get(tiny.tag).attrs["Config"]
    assert config["WorkingDir"] == "/testbed"
    assert config["Labels"][LABEL] == tiny.key
    # The install's command and variables stayed in its container.
    assert "install.sh" not in " ".join(config["Cmd"] or [])
    assert not any(name.startswith("PIP_NO_CACHE_DIR=") for name in config["Env"])


@pytest.mark.network
def test_a_copy_of_the_work_tree_runs_as_well(tiny: DockerEnvironment, tmp_path: Path) -> None:
    """The install's products are files of the work tree: a copy of it has them too."""
    copy = tmp_path / "copy"
    shutil.copytree(tiny.ctx.cache_dir.parent / "repo", copy, symlinks=True)
    code = "import generated, hello; print(generated.GENERATED, hello.GREETING)"
    result = tiny.run(["python", "-c", code], repo=copy, timeout=60)
    assert result.ok, result.output
    assert result.output.strip() == "by the install hi"


@pytest.mark.network
def test_pythonpath_comes_first_on_sys_path(tiny: DockerEnvironment) -> None:
    """pythonpath's directories, inside /testbed, come right after the script's own."""
    code = "import sys; print(sys.path[1:3])"
    assert python(tiny, code, pythonpath=("alt", ".")) == "['/testbed/alt', '/testbed']"


@pytest.mark.network
def test_an_install_that_copies_the_sources_is_refused(engine: Dockerd, tmp_path: Path) -> None:
    """A non-editable install would put the project into the image: no image, a clear error."""
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "lib.py").write_text(f"# {SOURCE_MARKER}\nVALUE = {'x' * 80!r}\n")
    spec = RepoSpec(repository="a/b", install="mkdir /opt/lib && cp lib.py /opt/lib/")
    environment = DockerEnvironment("copies00", spec, scratch_context(tmp_path, "docker", {}))
    log = tmp_path / "instance.log"
    environment.create(log)
    with pytest.raises(CommandError, match=r"failed \(log: .*instance.log\): .*/opt/lib/lib.py"):
        environment.install(tmp_path / "repo", log)
    assert "copied 1 of the project's source files" in log.read_text()
    assert not environment.exists()


@pytest.mark.network
def test_custom_instance_image_build_goes_on_top(engine: Dockerd, tmp_path: Path) -> None:
    """The extra Dockerfile lines apply after the install; the tag names the result."""
    (tmp_path / "repo").mkdir()
    custom = ["ENV CUSTOM=yes", "RUN echo built > /custom.txt"]
    spec = RepoSpec(repository="a/b", install="true", custom_instance_image_build=custom)
    environment = DockerEnvironment("custom00", spec, scratch_context(tmp_path, "docker", {}))
    log = tmp_path / "instance.log"
    environment.create(log)
    environment.install(tmp_path / "repo", log)
    try:
        code = "import os, pytest_featurebench; print(os.environ['CUSTOM'], open('/custom.txt').read())"
        result = environment.run(["python", "-c", code], repo=tmp_path / "repo", timeout=60)
        assert result.ok, result.output
        assert result.output.split() == ["yes", "built"]
    finally:
        environment.remove()
    with contextlib.closing(engine.client()) as client:
        assert client.images.list(filters={"label": f"{LABEL}=custom00"}) == []


@pytest.mark.network
def test_a_timeout_kills_and_removes_the_container(
    engine: Dockerd, tiny: DockerEnvironment
) -> None:
    """The command is killed at the timeout, reported as timed out, and leaves nothing."""
    repo = tiny.ctx.cache_dir.parent / "repo"
    result = tiny.run(["python", "-c", "import time; time.sleep(60)"], repo=repo, timeout=2)
    assert result.timed_out
    assert result.duration < 30
    with contextlib.closing(engine.client()) as client:
        left = client.containers.list(all=True, filters={"label": LABEL})
        # What is left holds the image for this process (never started), not a command.
        assert [c for c in left if LEASE_LABEL not in c.labels] == []


@pytest.mark.network
def test_no_network_unless_asked(tiny: DockerEnvironment) -> None:
    """Containers have no network interface but loopback by default."""
    code = "import socket; print(sorted(name for _, name in socket.if_nameindex()))"
    assert python(tiny, code) == "['lo']"


@pytest.mark.network
def test_exists_and_remove_follow_the_instance_image(
    engine: Dockerd, tiny: DockerEnvironment
) -> None:
    """The instance tag is the completion marker; remove() deletes it."""
    with contextlib.closing(engine.client()) as client:
        client.images.get(tiny.tag).tag("featurebench/instance", "copy0000")
    copy = DockerEnvironment("copy0000", tiny.spec, tiny.ctx)
    assert copy.exists()
    copy.remove()
    assert not copy.exists()
    assert tiny.exists()


@pytest.mark.network
def test_a_failing_install_names_its_log(engine: Dockerd, tmp_path: Path) -> None:
    """A failed build is one CommandError line with the build's log and its last words."""
    (tmp_path / "repo").mkdir()
    spec = RepoSpec(repository="a/b", install="echo about to fail; exit 3")
    environment = DockerEnvironment("fails000", spec, scratch_context(tmp_path, "docker", {}))
    log = tmp_path / "instance.log"
    environment.create(log)
    with pytest.raises(CommandError, match=r"failed \(log: .*instance.log\): .*non-zero code: 3"):
        environment.install(tmp_path / "repo", log)
    assert "about to fail" in log.read_text()
    assert not environment.exists()


def test_gpus_go_round_robin_over_the_pool(tmp_path: Path) -> None:
    """number_once ids per run, taken in turn from the first cuda_visible_num --gpu-ids."""
    ctx = scratch_context(tmp_path, "docker", {})
    ctx.gpu_ids = (4, 5, 6, 7)  # type: ignore[attr-defined]
    run_args = {"cuda_visible_num": 3, "number_once": 2}
    spec = RepoSpec(repository="a/b", docker_specs=DockerSpecs(run_args=RunArgs(**run_args)))
    environment = DockerEnvironment("gpus0000", spec, ctx)
    turns = [environment._device_requests()[0]["DeviceIDs"] for _ in range(3)]
    assert turns == [["4", "5"], ["6", "4"], ["5", "6"]]


def test_unsupported_docker_args_are_refused() -> None:
    """Only -e NAME=VALUE and -v HOST:CONTAINER[:mode] are accepted, each with a clear error."""
    env, mounts = parse_docker_args(["-e FOO=bar", "-v", "/data:/data:ro", "--volume=cache:/c"])
    assert env == {"FOO": "bar"}
    assert [(m["Source"], m["Target"], m["Type"], m["ReadOnly"]) for m in mounts] == [
        ("/data", "/data", "bind", True),
        ("cache", "/c", "volume", False),
    ]
    with pytest.raises(UsageError, match=r"'--privileged' is not supported; use -e NAME=VALUE"):
        parse_docker_args(["--privileged"])
    with pytest.raises(UsageError, match=r"-e 'FOO'; use -e NAME=VALUE"):
        parse_docker_args(["-e", "FOO"])
    with pytest.raises(UsageError, match=r"-v needs a value"):
        parse_docker_args(["-v"])
    with pytest.raises(UsageError, match=r"host side must be an absolute path"):
        parse_docker_args(["-v", "./data:/data"])


def test_no_daemon_is_a_one_line_command_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An unreachable DOCKER_HOST is reported as such, not as a traceback."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    environment = DockerEnvironment(
        "x", RepoSpec(repository="a/b"), scratch_context(tmp_path, "docker", {})
    )
    with pytest.raises(
        CommandError, match=r"no Docker daemon reachable at unix://.*nothing.sock"
    ) as info:
        environment.exists()
    assert "\n" not in str(info.value)
