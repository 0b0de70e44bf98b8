"""The Docker backend as a user meets it: setting the engine up, what builds see, clean-up.

On the session's private engine (tests/orchestrator/conftest.py); tests that install
download from PyPI, hence the ``network`` marks.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments import docker_engine
from orchestrator.environments.docker import DockerEnvironment
from orchestrator.environments.docker_engine import BASE_LABEL, CASE_LABEL, LABEL, OWNER_LABEL
from orchestrator.errors import CommandError
from orchestrator.pipeline.engine import SpecState
from orchestrator.pipeline.specs import RepoSpec, Spec
from orchestrator.stages.image import ImageStage
from tests.orchestrator.conftest import ROOTFS_CACHE, ROOTFS_TAG
from tests.support.contexts import scratch_context
from tests.support.dockerd import Dockerd


@pytest.fixture
def client(engine: Dockerd) -> Iterator[Any]:
    with contextlib.closing(engine.client()) as opened:
        yield opened


def all_images(client: Any) -> set[str]:
    return {image.id for image in client.images.list(all=True)}


def build_on_rootfs(client: Any, tag: str, *lines: str) -> str:
    dockerfile = "\n".join([f"FROM {ROOTFS_TAG}", *lines, ""]).encode()
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True)
    return str(image.id)


def test_installs_get_the_hosts_ca_bundle_and_proxies_but_no_host_paths(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The bundle goes in as a file with the variables naming it; PIP_FIND_LINKS and
    PIP_CERT name host paths, which mean nothing in a container, and stay out."""
    bundle = tmp_path / "host-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("PIP_CERT", str(bundle))
    monkeypatch.setenv("PIP_FIND_LINKS", "/home/someone/wheels")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    monkeypatch.setenv("UV_INDEX_TOKEN", "sk-secret")
    ctx = scratch_context(tmp_path, "docker", {"FROM_CONFIG": "yes"})
    environment = DockerEnvironment("setup000", RepoSpec(repository="a/b"), ctx)
    setup = tmp_path / "setup"
    setup.mkdir()
    environment._setup(setup)
    script = (setup / "install.sh").read_text()
    assert (setup / "ca-bundle.crt").read_bytes() == bundle.read_bytes()
    for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO"):
        assert f"export {name}=/opt/featurebench-setup/ca-bundle.crt\n" in script
    assert "export HTTPS_PROXY=http://proxy.example:3128\n" in script
    assert "export PIP_INDEX_URL=https://mirror.example/simple\n" in script
    assert "export FROM_CONFIG=yes\n" in script
    assert "PIP_FIND_LINKS" not in script
    assert str(bundle) not in script
    assert "sk-secret" not in script


@pytest.mark.network
def test_a_failed_install_names_its_root_cause(
    engine: Dockerd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An untrusted CA bundle: pip ends with 'No matching distribution', the one-line
    error leads with the TLS failure (and so proves the bundle reached the install)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=not-a-ca-of-pypi", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    (tmp_path / "repo").mkdir()
    # pip >= 24.2 trusts the system's store besides the bundle: legacy-certs is the pip
    # (and uv) that trusts the bundle alone, as with a base image lacking the host's CA.
    install = "python -m pip install --use-deprecated=legacy-certs --retries 0 six"
    spec = RepoSpec(repository="a/b", install=install)
    environment = DockerEnvironment("tlsfail0", spec, scratch_context(tmp_path, "docker", {}))
    log = tmp_path / "instance.log"
    environment.create(log)
    with pytest.raises(CommandError) as info:
        environment.install(tmp_path / "repo", log)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("install into featurebench/instance:tlsfail0 failed: ")
    head, _, tail = message.partition(" (log: ")
    assert "CERTIFICATE_VERIFY_FAILED" in head
    assert "No matching distribution found for six" in tail
    assert "non-zero code: 1" in tail
    assert not environment.exists()


def test_another_rootfs_gives_another_environment_key(
    client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Switching FBENCH_ROOTFS_IMAGE changes the image stage's inputs, so its key."""
    other = "featurebench/rootfs:another"
    build_on_rootfs(client, other, "LABEL featurebench.rootfs=another")
    try:
        ctx = scratch_context(tmp_path, "docker")
        state = SpecState(Spec("SPECS_A", RepoSpec(repository="a/b")))
        (first,) = ImageStage().items(ctx, state)
        monkeypatch.setenv("FBENCH_ROOTFS_IMAGE", other)
        (second,) = ImageStage().items(ctx, state)
    finally:
        client.images.remove(other)
    assert first.inputs["rootfs"] == client.images.get(ROOTFS_TAG).id
    assert second.inputs["rootfs"] != first.inputs["rootfs"]
    assert {**second.inputs, "rootfs": None} == {**first.inputs, "rootfs": None}


def test_containers_of_a_killed_run_are_removed_by_the_next(
    client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Ours and made by a process that is gone: removed at the first look at the engine.
    A live run's and anybody else's stay."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    here = socket.gethostname()
    made = {
        "stale": {LABEL: "k", OWNER_LABEL: f"{here} {gone.pid}"},
        "live": {LABEL: "k", **docker_engine.owner_labels()},
        "foreign": {"somebody.else": "1"},
    }
    containers = {
        name: client.containers.create(
            ROOTFS_TAG, ["sleep", "600"], labels=labels, network_mode="none"
        )
        for name, labels in made.items()
    }
    containers["stale"].start()  # running still, as after a SIGKILL of fbench
    monkeypatch.setattr(docker_engine, "_cleaned", set())
    try:
        env = DockerEnvironment(
            "none0000", RepoSpec(repository="a/b"), scratch_context(tmp_path, "docker")
        )
        assert not env.exists()
        left = {c.id for c in client.containers.list(all=True)}
        assert containers["stale"].id not in left
        assert {containers["live"].id, containers["foreign"].id} <= left
    finally:
        for container in containers.values():
            with contextlib.suppress(Exception):
                container.remove(force=True)


def test_prune_touches_only_what_is_labelled_ours(client: Any) -> None:
    """Untagged images and idle containers of ours go; anyone else's stay, and so do
    our tagged images (without --all). An image built FROM ours inherits our labels,
    yet is not ours, even for --all."""
    ours = build_on_rootfs(client, "fbench-test/ours:dangling", f"LABEL {CASE_LABEL}=x")
    client.images.remove("fbench-test/ours:dangling", noprune=True)  # dangling now
    kept = build_on_rootfs(client, "featurebench/instance:kept", f"LABEL {LABEL}=y")
    theirs = build_on_rootfs(client, "fbench-test/theirs:1", "LABEL somebody.else=1")
    labels = {LABEL: "k", **docker_engine.owner_labels()}
    idle = client.containers.create(ROOTFS_TAG, ["true"], labels=labels, network_mode="none")
    foreign = client.containers.create(
        ROOTFS_TAG, ["true"], labels={"somebody.else": "1"}, network_mode="none"
    )
    try:
        result = CliRunner().invoke(cli, ["docker", "prune"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"container {idle.name}" in result.stdout.splitlines()
        images = all_images(client)
        assert ours not in images
        assert {kept, theirs} <= images
        left = {c.id for c in client.containers.list(all=True)}
        assert idle.id not in left
        assert foreign.id in left
        assert docker_engine.prunable(client.images.get(kept), everything=True)
        assert not docker_engine.prunable(client.images.get(theirs), everything=True)
    finally:
        foreign.remove(force=True)
        for tag in ("featurebench/instance:kept", "fbench-test/theirs:1"):
            client.images.remove(tag)


def test_docker_base_imports_a_rootfs_where_nothing_can_be_pulled(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No FBENCH_ROOTFS_IMAGE, no registry: debian:bookworm cannot be pulled, so the
    root filesystem is made (here: from the cached tarball), imported, and built on."""
    monkeypatch.delenv("FBENCH_ROOTFS_IMAGE")
    command = ["docker", "base", "--cache-dir", str(ROOTFS_CACHE.parent)]
    result = CliRunner().invoke(cli, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    tag = result.stdout.strip()
    assert tag.startswith("featurebench/base:3.11-")
    assert client.images.get(tag).labels[BASE_LABEL] == tag
    assert "cannot pull debian:bookworm" in result.stderr
    assert f"export FBENCH_ROOTFS_IMAGE={ROOTFS_TAG}" in result.stderr
    history = client.api.history(tag)
    assert any(ROOTFS_TAG in (layer.get("Tags") or []) for layer in history)


@pytest.mark.network
def test_a_rebuild_replaces_its_image_and_a_failed_build_leaves_nothing(
    client: Any, tmp_path: Path
) -> None:
    """The image a tag named before is removed; a failed build's intermediates and the
    untagged install under it are too."""
    (tmp_path / "repo").mkdir()
    ctx = scratch_context(tmp_path, "docker")
    environment = DockerEnvironment("rebuild0", RepoSpec(repository="a/b", install="true"), ctx)
    log = tmp_path / "instance.log"
    environment.create(log)
    environment.install(tmp_path / "repo", log)
    first = client.images.get(environment.tag).id
    environment.install(tmp_path / "repo", log)
    second = client.images.get(environment.tag).id
    assert second != first
    assert first not in all_images(client)
    before = all_images(client)
    custom = ["RUN echo one > /one", "RUN echo two > /two", "RUN exit 7"]
    spec = RepoSpec(repository="a/b", install="true", custom_instance_image_build=custom)
    failing = DockerEnvironment("rebuild0", spec, ctx)
    try:
        with pytest.raises(CommandError, match=r"docker build of featurebench/instance:rebuild0"):
            failing.install(tmp_path / "repo", log)
        assert all_images(client) == before
        assert client.images.get(environment.tag).id == second
    finally:
        environment.remove()


def test_the_instance_install_puts_pip_packages_before_the_project(tmp_path: Path) -> None:
    """As the local backend and exports: a pip package needing the project (pytest needs
    iniconfig) must not replace the editable install that came before it."""
    spec = RepoSpec(repository="a/b", pre_install=["echo pre"], pip_packages=["pytest"])
    environment = DockerEnvironment("order0", spec, scratch_context(tmp_path, "docker", {}))
    script = environment.install_script("plugin.whl", {})
    steps = [line for line in script.splitlines() if line.startswith("cd /testbed")]
    assert [s.split("-c ", 1)[1] for s in steps[:3]] == [
        "'python -m pip install pytest' || exit $?",
        "'echo pre' || exit $?",
        "'pip install -e .' || exit $?",
    ]
