"""The files of a case: diffs, ``instance.json``, ``config.yaml``, the task statement.

A case directory ``cases/{owner}__{repo}.{commit8}/{test}.{hash}.lv{1,2}/``
holds those files and ``repo/``, the masked repository the agent starts from
(one fresh commit, see :mod:`orchestrator.extract.worktrees`). The directory is built
beside its final place and renamed into it, so it is whole or absent.
"""

from __future__ import annotations

import difflib
import json
import shutil
import string
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.extract.fairness import EXPOSURE
from orchestrator.pipeline.storage import follow_umask, write_json

REPO_DIR = "repo"


class CaseFiles(msgspec.Struct, kw_only=True):
    """One case, ready to write: its directory name and the text of its files."""

    name: str
    level: int
    instance: dict[str, Any]
    config: dict[str, Any]
    problem_statement: str
    test_patch: str
    patch: str | None = None  # lv1 only


def unified_diff(path: str, old: str | None, new: str | None) -> str:
    """A git-style diff of one file; ``None`` on one side means added or deleted."""
    before = (old or "").splitlines(keepends=True)
    after = (new or "").splitlines(keepends=True)
    header = [f"diff --git a/{path} b/{path}\n"]
    if old is None:
        header.append("new file mode 100644\n")
    elif new is None:
        header.append("deleted file mode 100644\n")
    lines = difflib.unified_diff(
        before,
        after,
        "/dev/null" if old is None else f"a/{path}",
        "/dev/null" if new is None else f"b/{path}",
        n=3,
    )
    body: list[str] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            body.append(line.rstrip("\n") + "\n")
        elif line.endswith("\n"):
            body.append(line)
        else:  # the file's last line has no newline
            body.append(line + "\n\\ No newline at end of file\n")
    return "".join(header + body) if body else ""


def diff_files(changes: dict[str, tuple[str | None, str | None]]) -> str:
    """One patch of several files: ``path -> (old, new)``, in path order."""
    return "".join(unified_diff(path, *changes[path]) for path in sorted(changes))


def render_problem_statement(
    level: int, library: str, black_links: list[str], stubs: list[str], task: str = ""
) -> str:
    template = resources.files("orchestrator") / "templates" / f"problem_statement_lv{level}.md"
    links = ""
    if black_links:
        listed = "\n".join(f"  - {link}" for link in black_links)
        links = f"- Do not look up the original code; in particular, do not visit:\n{listed}\n"
    if level == 2:  # the agent writes a new package: where the library exposed them is moot
        stubs = [
            "\n".join(s for s in stub.split("\n") if not s.startswith(EXPOSURE)) for stub in stubs
        ]
    blocks = "\n\n".join(f"```python\n{stub.rstrip()}\n```" for stub in stubs)
    return string.Template(template.read_text(encoding="utf-8")).substitute(
        library=library,
        links=links,
        stubs=blocks,
        task=f"\n## The feature\n\n{task.strip()}\n\n" if task else "",
    )


def render_yaml(data: dict[str, Any]) -> str:
    """Flat YAML: one ``key: value`` per line, values in JSON form (valid YAML 1.2)."""
    return "".join(f"{key}: {json.dumps(data[key])}\n" for key in data)


def write_case(folder: Path, case: CaseFiles, repo: Path) -> None:
    """Write the case directory whole, with a copy of the case repository ``repo``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{case.name}.", dir=folder.parent))
    follow_umask(building)  # mkdtemp makes it 0700: datasets are shared and mounted
    try:
        shutil.copytree(repo, building / REPO_DIR, symlinks=True)
        write_json(building / "instance.json", case.instance)
        (building / "config.yaml").write_text(render_yaml(case.config), encoding="utf-8")
        (building / "problem_statement.md").write_text(case.problem_statement, encoding="utf-8")
        (building / "test_patch.diff").write_text(case.test_patch, encoding="utf-8")
        if case.patch is not None:
            (building / "patch.diff").write_text(case.patch, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        building.rename(folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
