"""One image per case, named as SWE-bench and the agents that read its rows expect.

With the Docker backend every case gets an image ``FROM`` its instance image with
the case repository (with its ``.git``, at ``base_commit``) at ``/testbed``, as
SWE-bench's images have it. It is tagged with the name these tools derive from an
instance id (``swebench/sweb.eval.x86_64.<id, "__" as "_1776_", lowercased>:latest``,
:func:`orchestrator.grading.harness.image_name`), so ``swebench images build -n
swebench`` finds it built, and an agent scaffold pointed at the row's ``image``
starts it. A rebuilt case replaces its image; the old one is removed.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from orchestrator.environments import docker_engine as engine
from orchestrator.environments.docker_engine import CASE_LABEL, LABEL
from orchestrator.grading.harness import image_name

TESTBED = "/testbed"


def build_case_images(instance_tag: str, key: str, cases: Sequence[Path], log: Path) -> list[str]:
    """Build the image of each case directory in ``cases`` on ``instance_tag``; their tags."""
    tags = []
    with engine.client() as client:
        for case in cases:
            instance_id = json.loads((case / "instance.json").read_text())["instance_id"]
            tag = image_name(instance_id)
            engine.build(
                client,
                log,
                fileobj=_context(case / "repo", instance_tag),
                custom_context=True,
                tag=tag,
                labels={CASE_LABEL: instance_id, LABEL: key},
            )
            tags.append(tag)
    return tags


def _context(repo: Path, instance_tag: str) -> io.BytesIO:
    """A build context: the Dockerfile and the case repository, ``.git`` included."""
    dockerfile = f"FROM {instance_tag}\nCOPY repo {TESTBED}\nWORKDIR {TESTBED}\n".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(dockerfile), 0o644
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(repo, arcname="repo")
    buffer.seek(0)
    return buffer
