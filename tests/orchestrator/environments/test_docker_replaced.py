"""A run removes the Docker images that its specs' install changes replaced, and only those.

Real ``fbench build-cases --backend docker`` runs, each a process of its own (as runs
are: a process holds the images it uses until it exits), on the session's private
engine; the runs stop after the image stage, and the case images come from the data
stage's own builder. Installs download pytest, hence the ``network`` mark.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments.docker_case import build_case_images
from orchestrator.environments.docker_engine import LABEL, LEASE_LABEL
from orchestrator.environments.docker_replaced import lease, release, remove_replaced
from orchestrator.grading.harness import image_name
from tests.orchestrator.environments.test_docker_setup import build_on_rootfs
from tests.support.dockerd import Dockerd
from tests.support.gitrepos import commit_files

FBENCH = Path(sys.executable).parent / "fbench"
INSTANCE = "featurebench/instance:"
# A live run elsewhere: it finds its environment (so holds it), says so, and waits.
HOLDER = """
import sys, time
from pathlib import Path
from orchestrator.environments.docker import DockerEnvironment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.contexts import scratch_context
env = DockerEnvironment(sys.argv[1], RepoSpec(repository="a/b"), scratch_context(Path(sys.argv[2]), "docker"))
print(env.exists(), flush=True)
time.sleep(600)
"""


@pytest.fixture
def project(engine: Dockerd, tmp_path: Path) -> Iterator[Project]:
    """The project; afterwards, what is left of its images goes (the engine is shared)."""
    with contextlib.closing(engine.client()) as client:
        made = Project(tmp_path, client)
        yield made
        for tag in [*made.made_cases, *(f"{INSTANCE}{key}" for key in made.made)]:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(tag)


class Project:
    """Two specs, ``SPECS_A`` (whose install changes) and ``SPECS_U`` (unrelated), one cache."""

    def __init__(self, root: Path, client: Any):
        self.root = root
        self.client = client
        self.made: set[str] = set()
        self.made_cases: list[str] = []
        for name in ("a", "u"):
            files = {f"{name}.py": "X = 1\n", f"test_{name}.py": f"from {name} import X\n"}
            commit_files(root / name, files, "init", 1_700_000_000)

    def run(self, marker: str) -> set[str]:
        """One run, with SPECS_A's install saying ``marker``; the instance keys it made."""
        specs = {
            f"SPECS_{name.upper()}": {"repository": str(self.root / name), "install": f"echo {say}"}
            for name, say in (("a", marker), ("u", "unrelated"))
        }
        path = self.root / "specs.py"
        path.write_text("".join(f"{name} = {spec!r}\n" for name, spec in specs.items()))
        before = self.instances()
        command = [str(FBENCH), "build-cases", "--backend", "docker", "--debug", "end=image"]
        command += ["--config-path", str(path), "--output-dir", str(self.root / "out")]
        command += ["--cache-dir", str(self.root / "cache")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
        made = self.instances() - before
        self.made |= made
        return made

    def instances(self) -> set[str]:
        tags = [tag for image in self.client.images.list() for tag in image.tags]
        return {tag.removeprefix(INSTANCE) for tag in tags if tag.startswith(INSTANCE)}

    def case_image(self, key: str, case: str) -> str:
        """A case image on ``key``'s instance image, made as the data stage makes them."""
        folder = self.root / "cases" / case
        (folder / "repo").mkdir(parents=True)
        (folder / "repo" / "a.py").write_text("X = 1\n")
        (folder / "instance.json").write_text(json.dumps({"instance_id": f"local__a-{case}"}))
        (tag,) = build_case_images(f"{INSTANCE}{key}", key, [folder], self.root / "case.log")
        assert tag == image_name(f"local__a-{case}")
        self.made_cases.append(tag)
        return tag

    def tags(self) -> set[str]:
        return {tag for image in self.client.images.list() for tag in image.tags}


@pytest.mark.network
def test_a_run_removes_what_an_install_change_replaced_and_nothing_in_use(
    project: Project, tmp_path: Path
) -> None:
    client = project.client
    made = project.run("one")
    assert len(made) == 2
    cases = {key: project.case_image(key, f"one-{key}") for key in made}
    (second,) = project.run("two")
    (unrelated,) = made & project.instances()
    (first,) = made - {unrelated}
    tags = project.tags()
    assert f"{INSTANCE}{first}" not in tags
    assert cases[first] not in tags  # built on the replaced image: gone with it
    assert {f"{INSTANCE}{second}", f"{INSTANCE}{unrelated}", cases[unrelated]} <= tags
    # A run of the second version goes on elsewhere (another cache, even) while a third
    # replaces it here: the image it holds stays, and so does its case image.
    second_case = project.case_image(second, "two")
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    command = [sys.executable, "-c", HOLDER, second, str(tmp_path / "holder")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "True"
            (third,) = project.run("three")
            assert {f"{INSTANCE}{second}", second_case, f"{INSTANCE}{third}"} <= project.tags()
        finally:
            holder.send_signal(signal.SIGKILL)  # killed: its hold stays behind, stale
    assert client.containers.list(all=True, filters={"label": f"{LEASE_LABEL}={second}"})
    # The next run (nothing to build) removes the stale lease, then what it held.
    assert project.run("three") == set()
    tags = project.tags()
    assert f"{INSTANCE}{second}" not in tags
    assert second_case not in tags
    assert {f"{INSTANCE}{third}", f"{INSTANCE}{unrelated}", cases[unrelated]} <= tags
    assert not client.containers.list(all=True, filters={"label": f"{LEASE_LABEL}={second}"})
    record = json.loads((tmp_path / "cache" / "docker" / "environments.json").read_text())
    assert sorted(record) == sorted([third, unrelated])


def test_a_key_goes_once_no_spec_of_the_cache_uses_it(engine: Dockerd, tmp_path: Path) -> None:
    """Two specs sharing a key keep it while either uses it; an image someone else built
    on it keeps it too, and the key stays recorded until it can go. Prune keeps a hold."""
    with contextlib.closing(engine.client()) as client:
        shared = build_on_rootfs(client, f"{INSTANCE}shared00", f"LABEL {LABEL}=shared00")
        build_on_rootfs(client, f"{INSTANCE}theirs00", f"LABEL {LABEL}=theirs00")
        client.images.build(
            fileobj=io.BytesIO(f"FROM {INSTANCE}theirs00\n".encode()), tag="someone/else:1"
        )
        cache = tmp_path / "cache"
        uses = {"r P": "shared00", "r Q": "shared00", "r S": "theirs00"}
        try:
            assert remove_replaced(cache, uses) == []
            assert remove_replaced(cache, {"r P": "new00000", "r S": "new00000"}) == []
            assert client.images.get(f"{INSTANCE}shared00").id == shared
            assert lease(client, f"{INSTANCE}shared00", "shared00")
            result = CliRunner().invoke(cli, ["docker", "prune"], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            assert remove_replaced(cache, {"r Q": "new00000"}) == []  # held by this process
            release(client, shared)
            assert remove_replaced(cache, {}) == [f"{INSTANCE}shared00"]
            assert shared not in {image.id for image in client.images.list(all=True)}
            assert client.images.get(f"{INSTANCE}theirs00")  # someone else's image is on it
            record = json.loads((cache / "docker" / "environments.json").read_text())
            assert record == {"new00000": ["r P", "r Q", "r S"], "theirs00": []}
        finally:
            for tag in ("someone/else:1", f"{INSTANCE}theirs00", f"{INSTANCE}shared00"):
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(tag)
