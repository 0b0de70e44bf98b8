"""What a patch may not change: the tests, what steers pytest and the interpreter, the grader.

- :func:`restore_tests` puts the case's test files back over whatever the
  patch made of them, and every file that can steer pytest or the interpreter
  (pytest's config files, ``conftest.py``, ``sitecustomize.py``,
  ``usercustomize.py``, ``*.pth``) wherever the patch put it: the case's
  version, or none if the case has none. Only real test files are restored:
  a library module collected for its doctests is the agent's to edit.
- :func:`suspicious_changes` names non-test code that newly imports or
  touches pytest, ``sys.modules`` or the interpreter's hooks: a patch that
  does so is graded unresolved with that reason, without running it.
"""

from __future__ import annotations

import re
import shutil
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from orchestrator.extract.worktrees import apply_patch
from orchestrator.grading.eval_inputs import Case
from orchestrator.pipeline.doctests import doctest_modules, is_test_file

# Files that decide how pytest or Python runs: an agent's version of them never counts.
PROTECTED = (
    "pytest.toml",
    ".pytest.toml",
    "pytest.ini",
    ".pytest.ini",
    "pyproject.toml",
    "tox.ini",
    "setup.cfg",
    "conftest.py",
    "sitecustomize.py",
    "usercustomize.py",
    "*.pth",
)
# What non-test code has no business doing in a patch: each pattern, and why it is flagged.
_SUSPICIOUS = (
    (r"^\s*(?:import|from)\s+_?pytest\b|['\"]_?pytest['\"]", "imports pytest"),
    (r"\bsys\s*\.\s*modules\b", "touches sys.modules"),
    (r"\bbuiltins\b|__builtins__|\b__import__\s*=", "touches builtins"),
    (
        r"\bsys\s*\.\s*(?:meta_path|path_hooks|settrace|setprofile|addaudithook)\b",
        "sets an interpreter hook",
    ),
)


def restore_tests(tree: Path, case: Case, log: Path) -> None:
    """Put the case's test files and steering files back, then apply test_patch.diff.

    The fail-to-pass file is not in the case repository, so whatever the patch
    made of it is deleted; so are steering files the patch added.
    """
    original = case.path / "repo"
    info = case.instance
    paths = {info["test_file"]}
    paths.update(restored_p2p_files(info))
    for root in (tree, original):
        paths.update(protected_files(root))
    for relative in sorted(paths):
        target, source = tree / relative, original / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    apply_patch(tree, case.path / "test_patch.diff", log)


def restored_p2p_files(info: dict[str, Any]) -> list[str]:
    """The case's pass-to-pass files eval puts back: its test files, never a library
    module that is one for its doctests (those are graded where they live)."""
    graded_in_place = doctest_modules(info["PASS_TO_PASS"])
    return [path for path in info["p2p_files"] if path not in graded_in_place]


def protected_files(root: Path) -> set[str]:
    """Every steering file under ``root``, by POSIX path relative to it."""
    found = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if ".git" not in relative.parts and any(fnmatch(path.name, p) for p in PROTECTED):
            found.add(relative.as_posix())
    return found


def suspicious_changes(tree: Path, case: Case) -> list[str]:
    """What the patched tree's non-test code newly does that is flagged, and where.

    Newly: beyond the case repository plus its gold patch, since the original
    code may well use ``sys.modules`` (a lazy loader) and must still resolve.
    """
    before, after = _sources(case.path / "repo"), _sources(tree)
    allowed = "\n".join([*before.values(), _added_lines(_gold_patch(case))])
    flagged = []
    for pattern, why in _SUSPICIOUS:
        if _count(pattern, "\n".join(after.values())) > _count(pattern, allowed):
            where = [
                path
                for path, text in after.items()
                if _count(pattern, text) > _count(pattern, before.get(path, ""))
            ]
            flagged.append(f"{why} ({', '.join(where)})")
    return flagged


def _sources(root: Path) -> dict[str, str]:
    """The text of every non-test module under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if ".git" not in path.relative_to(root).parts and not is_test_file(relative):
            found[relative] = path.read_text(encoding="utf-8", errors="replace")
    return found


def _gold_patch(case: Case) -> str:
    """The case's level 1 patch: its own, or its level 1 sibling's for a level 2 case."""
    sibling = case.path.with_name(case.path.name.removesuffix(".lv2") + ".lv1")
    for candidate in (case.path / "patch.diff", sibling / "patch.diff"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8", errors="replace")
    return ""


def _added_lines(patch: str) -> str:
    lines = patch.splitlines()
    return "\n".join(
        line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")
    )


def _count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text, flags=re.MULTILINE))
