"""Work trees of a checkout: scratch copies to mask and test, and case repositories.

A scratch copy keeps what the install left in the checkout (extensions built
in place, generated files) and drops git and caches. A case repository is
what an agent receives: the masked tree without bytecode, build output or
egg-info, committed as the single commit of a fresh repository, so neither
history nor a stale file can hold the removed code. Its author, date and
message are fixed: the same tree always gives the same commit id.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.repo import Repo

from orchestrator.errors import StageError
from orchestrator.pipeline.process import run_command
from orchestrator.pipeline.repos import commit_paths
from orchestrator.pipeline.storage import follow_umask, process_alive

CASE_AUTHOR = b"featurebench <featurebench@localhost>"
CASE_TIME = 1_577_836_800  # 2020-01-01: fixed, so commit ids depend on the tree alone

_SCRATCH_SKIPPED = (".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
_EXPORT_SKIPPED_DIRS = frozenset(
    (*_SCRATCH_SKIPPED, ".tox", ".nox", ".venv", ".eggs", "build", "dist", ".hypothesis")
)
_BYTECODE = (".pyc", ".pyo")
_NOT_SOURCE = frozenset((".git", ".tox", ".nox", ".venv", "venv", "build", "dist", ".eggs"))


def copy_scratch(checkout: Path, into: Path) -> Path:
    """A working copy of ``checkout`` at ``into`` (made), for masking and test runs."""
    shutil.copytree(
        checkout, into, symlinks=True, ignore=shutil.ignore_patterns(*_SCRATCH_SKIPPED, "*.pyc")
    )
    return into


@contextmanager
def scratch_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A temporary directory under ``parent``, removed afterwards whatever happened.

    Its name carries our process id: the scratch copies a killed process left
    under ``parent`` are removed the next time one is made there.
    """
    parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_scratch(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    follow_umask(path)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_orphaned_scratch(parent: Path, prefix: str) -> None:
    """Delete ``<prefix><pid>-*`` directories under ``parent`` whose process is gone."""
    for path in parent.glob(f"{prefix}*-*"):
        pid = path.name[len(prefix) :].partition("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def write_files(tree: Path, files: dict[str, str | None]) -> None:
    """Overwrite files of ``tree``; ``None`` deletes one."""
    for name, text in files.items():
        target = tree / name
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")


def exported(relative: Path) -> bool:
    """Whether a file belongs in a case repository."""
    parts = relative.parts
    if any(p in _EXPORT_SKIPPED_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
        return False
    return not relative.name.endswith(_BYTECODE)


def export_case_repo(tree: Path, into: Path) -> str:
    """Copy ``tree`` into a fresh one-commit repository at ``into``; return the commit id."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    files: list[Path] = []
    for source in sorted(tree.rglob("*")):
        relative = source.relative_to(tree)
        if source.is_dir() or not exported(relative):
            continue
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
        files.append(target)
    Repo.init(str(into)).close()
    return commit_paths(into, files, "featurebench case", CASE_AUTHOR, CASE_TIME)


def apply_patch(tree: Path, patch: Path, log: Path) -> None:
    """``git apply`` a patch inside ``tree``; StageError with git's reason if it does not apply."""
    result = run_command(
        ["git", "apply", "--whitespace=nowarn", str(patch.resolve())],
        cwd=tree,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tree), "GIT_CONFIG_NOSYSTEM": "1"},
        log_path=log,
        timeout=120,
    )
    if not result.ok:
        raise StageError(f"{patch.name} does not apply: {result.tail(300).strip()}")


def python_files(root: Path) -> dict[str, str]:
    """Every .py file of a checkout, by POSIX path relative to it."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if any(part in _NOT_SOURCE or part.endswith(".egg-info") for part in relative.parts):
            continue
        found[relative.as_posix()] = path.read_text(encoding="utf-8", errors="replace")
    return found
