"""``fbench docker``: set up and clean up the Docker backend's engine.

``base`` makes the base image a run would make first: it pulls the rootfs image
(``$FBENCH_ROOTFS_IMAGE``, else ``debian:bookworm``) where a registry is
reachable, and otherwise makes a Debian root filesystem and imports it.
``prune`` removes what featurebench left in the engine, and nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group("docker")
def docker_group() -> None:
    """The Docker backend's engine: make the base image, remove what we left."""


@docker_group.command("base")
@click.option("--python", "python_version", default="3.11", show_default=True)
@click.option(
    "--template", default="base", show_default=True, help="dockerfiles/<TEMPLATE>.Dockerfile"
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where the root filesystem's tarball and the build logs go"
    " (default: featurebench's cache).",
)
@click.option("--rebuild", is_flag=True, help="Build the base image again, without the cache.")
def base_command(python_version: str, template: str, cache_dir: Path | None, rebuild: bool) -> None:
    """Make the base image for PYTHON; print its tag.

    \b
    Uses $DOCKER_HOST. Without a registry, the root filesystem is made with
    debootstrap (as root) and imported as featurebench/rootfs:bookworm: then
    export FBENCH_ROOTFS_IMAGE=featurebench/rootfs:bookworm for later runs.
    """
    from orchestrator.environments import docker_base, docker_engine
    from orchestrator.pipeline.storage import default_cache_dir

    cache = (cache_dir or default_cache_dir()).resolve()
    with docker_engine.client() as engine:
        rootfs = _ensure_rootfs(engine, cache)
        logs = cache / "docker-logs"
        tag = docker_base.base_image(engine, template, python_version, logs, rebuild, rootfs)
    click.echo(tag)


def _ensure_rootfs(engine: object, cache: Path) -> str:
    """The rootfs image in the engine (there, pulled, or made and imported); its name."""
    import docker.errors

    from orchestrator.environments import docker_base, docker_engine, docker_rootfs
    from orchestrator.errors import CommandError

    name = docker_base.rootfs_name()
    if docker_engine.image_id(engine, name) is not None:
        return name
    try:
        click.echo(f"pulling {name}", err=True)
        engine.images.pull(name)  # type: ignore[attr-defined]
        return name
    except docker.errors.DockerException as exc:
        if os.environ.get("FBENCH_ROOTFS_IMAGE") not in (None, "", docker_rootfs.DEFAULT_TAG):
            raise CommandError(
                f"FBENCH_ROOTFS_IMAGE={name}: not in the engine and cannot be pulled"
                f" ({docker_engine.one_line(exc)}); unset it to make one"
            ) from None
        click.echo(f"cannot pull {name}: making a root filesystem instead", err=True)
    tag = docker_rootfs.DEFAULT_TAG
    docker_rootfs.build_rootfs_image(engine, tag, cache / "rootfs")
    click.echo(f"imported {tag}; for later runs: export FBENCH_ROOTFS_IMAGE={tag}", err=True)
    return tag


@docker_group.command("prune")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also every tagged image of ours (bases, instances, cases, root filesystems).",
)
def prune_command(everything: bool) -> None:
    """Remove containers and untagged images labelled as featurebench's; nothing else.

    Containers of a run still going are kept (those it holds its images with too),
    and so is any image a container uses.
    """
    from orchestrator.environments import docker_engine

    with docker_engine.client() as engine:
        removed, freed = docker_engine.prune(engine, everything)
    for line in removed:
        click.echo(line)
    click.echo(f"removed {len(removed)} (about {freed / 1e6:.0f} MB)", err=True)
