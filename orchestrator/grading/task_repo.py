"""``fbench export --format swebench-task-repo``: SWE-bench 5's task repository.

Laid out as ``swebench.task.repo`` reads it::

    sweb.yaml                 the dataset it publishes, and its split
    tasks/<instance_id>/
        task.yaml             the row's short fields (JSON-style scalars, which YAML reads)
        tests.json            FAIL_TO_PASS and PASS_TO_PASS, as lists
        problem_statement.md, gold.patch, test.patch, eval.sh
        Dockerfile            the case repository at /testbed, installed as the spec says
                              (with the Docker backend: on the case's instance image, as
                              the per-case image fbench built is)
        repo.bundle           the case repository (git bundle): the Dockerfile's source,
                              since a case repository exists on no public host

The tree is built beside ``out`` and renamed into place, so a failed export
leaves no half-written repository.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.grading.eval_inputs import Case
from orchestrator.pipeline.process import run_command

DATASET = "featurebench"
SPLIT = "test"
AS_FILE = {
    "patch": "gold.patch",
    "test_patch": "test.patch",
    "eval_script": "eval.sh",
    "problem_statement": "problem_statement.md",
}
TESTS = ("FAIL_TO_PASS", "PASS_TO_PASS")
TESTBED = "/testbed"


def write_task_repo(rows: list[dict[str, Any]], cases: dict[str, Case], out: Path) -> None:
    """Write every row as ``out/tasks/<instance_id>/``, plus ``out/sweb.yaml``."""
    if out.exists() and not (out / "sweb.yaml").is_file():
        raise UsageError(
            f"--out {out}: exists and is not a task repository; remove it or pick another"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        tree = building / "repo"
        for row in rows:
            write_task(tree / "tasks" / row["instance_id"], row, cases[row["instance_id"]])
        (tree / "sweb.yaml").write_text(_yaml({"datasets": [DATASET], "splits": [SPLIT]}))
        if out.exists():
            shutil.rmtree(out)
        tree.rename(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def write_task(folder: Path, row: dict[str, Any], case: Case) -> None:
    """One task directory: its metadata, tests, texts, patches, script and image recipe."""
    folder.mkdir(parents=True)
    short = {k: v for k, v in row.items() if k not in AS_FILE and k not in TESTS}
    (folder / "task.yaml").write_text(_yaml({**short, "split": SPLIT, "datasets": [DATASET]}))
    tests = {key: json.loads(row[key]) for key in TESTS}
    (folder / "tests.json").write_text(json.dumps(tests, indent=2) + "\n")
    for column, name in AS_FILE.items():
        (folder / name).write_text(row[column], encoding="utf-8")
    run_command(
        ["git", "bundle", "create", str(folder / "repo.bundle"), "--all"],
        cwd=case.path / "repo",
        check=True,
    )
    (folder / "Dockerfile").write_text(dockerfile(case))


def dockerfile(case: Case) -> str:
    """An image with the case repository at ``/testbed`` (with git) and its install done."""
    environment = case.instance["environment"]
    if environment.get("backend") == "docker":
        return _on_instance_image(case, environment["key"])
    settings = case.instance["repo_settings"]
    python = case.instance["environment"].get("python_version", "3.11")
    packages = ["pytest", *settings.get("pip_packages", [])]
    steps = [*settings.get("pre_install", []), settings.get("install", "")]
    lines = [
        f"FROM python:{python}-slim-bookworm",
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git"
        " && rm -rf /var/lib/apt/lists/*",
        "COPY repo.bundle /tmp/repo.bundle",
        f"RUN git clone -q /tmp/repo.bundle /testbed && git -C /testbed checkout -q"
        f" {case.instance['base_commit']} && rm /tmp/repo.bundle",
        "WORKDIR /testbed",
        f"RUN pip install --no-cache-dir {shlex.join(packages)}",
        *(f"RUN {step}" for step in steps if step.strip()),
        "",
    ]
    return "\n".join(lines)


def _on_instance_image(case: Case, key: str) -> str:
    """The Docker backend's per-case image: the case repository on the instance image."""
    lines = [
        f"FROM featurebench/instance:{key}",
        "COPY repo.bundle /tmp/repo.bundle",
        f"RUN git clone -q /tmp/repo.bundle {TESTBED} && git -C {TESTBED} checkout -q"
        f" {case.instance['base_commit']} && rm /tmp/repo.bundle",
        f"WORKDIR {TESTBED}",
        "",
    ]
    return "\n".join(lines)


def _yaml(data: dict[str, Any]) -> str:
    """YAML whose every value is JSON: no implicit typing turns ``no`` or ``1.0`` into a bool."""
    return "".join(f"{key}: {json.dumps(data[key])}\n" for key in sorted(data))
