"""Level 2 of a case: the agent writes the feature from scratch as ``agent_code``.

The fail-to-pass tests are rewritten, by their imports and without an LLM, to
take the removed objects from ``agent_code``. The rewrite is proved both ways
before the case is written (logs under ``logs/level2_validate/``):

- against the masked repository and an empty ``agent_code``, the tests that
  must go from failing to passing all fail;
- as the agent is told: against the masked repository (the library stays
  masked) and an ``agent_code`` holding copies of the listed interfaces alone
  (the top objects and their helpers, other names imported from the library),
  every one of the file's tests passes. Tests that import the original module
  with ``importlib``, run the library in a subprocess, or rely on the library's
  own module state fail here, and the file gets no level 2 case.

Only module-level objects can come from another package: a file whose top
objects include a method gets no level 2 case (the note says so).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.extract.agent_views import (
    AGENT_PACKAGE,
    copied_agent_code,
    rewrite_for_agent_code,
)
from orchestrator.extract.masking import MaskError, module_name, names_of
from orchestrator.extract.worktrees import write_files
from orchestrator.stages.data_checks import Dropped, Runner, Verdict

PACKAGE = AGENT_PACKAGE


def level2_case(
    runner: Runner,
    scratch: Path,
    repo: Path,
    checkout: Path,
    files: dict[str, str],
    verdict: Verdict,
) -> tuple[str | None, str | None]:
    """The level 2 ``test_patch.diff``, or None and the reason there is none."""
    from orchestrator.extract.cases import diff_files

    top = verdict.classification.features
    if any("." in target.qualname for target in top):
        return None, "no level 2 case: a top object is a method"
    paths = set(files)
    # Every name the top objects have anywhere, re-exports too: removed or emptied alike.
    names = names_of(files, top)
    removed: dict[str, set[str]] = {}
    renamed: dict[str, dict[str, str]] = {}  # re-exports under another name
    for path, lost in names.dropped_names.items():
        module = module_name(path, paths)
        if module is not None:
            removed.setdefault(module, set()).update(lost)
            renamed.setdefault(module, {}).update(names.renamed.get(path, {}))
    original = files[runner.file]
    rewritten = rewrite_for_agent_code(original, removed, PACKAGE, renamed)
    if rewritten == original:
        return None, "no level 2 case: the tests do not import the removed objects by name"
    test_patch = diff_files({runner.file: (None, rewritten)})
    (scratch / "lv2_test_patch.diff").write_text(test_patch, encoding="utf-8")
    try:
        _empty_fails(runner, scratch, repo, verdict)
        _copies_pass(runner, scratch, repo, files, verdict)
    except Dropped as dropped:
        return None, f"no level 2 case: {dropped.reason}"
    return test_patch, None


def _empty_fails(runner: Runner, scratch: Path, repo: Path, verdict: Verdict) -> None:
    tree = scratch / "lv2-empty"
    shutil.copytree(repo, tree, symlinks=True)
    runner.apply(tree, scratch / "lv2_test_patch.diff", "level2_validate", "lv2")
    write_files(tree, {f"{PACKAGE}/__init__.py": ""})
    outcomes = runner.pytest(tree, [runner.file], "level2_validate", "empty").outcomes()
    passing = [t for t in verdict.fail_to_pass if outcomes.get(t) == "passed"]
    if passing:
        raise Dropped("lv2", f"{passing[0]} passes against an empty {PACKAGE}")


def _copies_pass(
    runner: Runner, scratch: Path, repo: Path, files: dict[str, str], verdict: Verdict
) -> None:
    tree = scratch / "lv2-gold"
    shutil.copytree(repo, tree, symlinks=True)
    runner.apply(tree, scratch / "lv2_test_patch.diff", "level2_validate", "lv2")
    listed = [*verdict.classification.features, *verdict.classification.helpers]
    try:
        package = copied_agent_code(files, listed, verdict.masked.files)
    except MaskError as exc:
        raise Dropped("lv2", str(exc)) from None
    write_files(tree, {f"{PACKAGE}/__init__.py": package})
    outcomes = runner.pytest(tree, [runner.file], "level2_validate", "gold").outcomes()
    wanted = [
        *verdict.fail_to_pass,
        *(t for t in verdict.pass_to_pass if t.startswith(f"{runner.file}::")),
    ]
    failed = [t for t in wanted if outcomes.get(t) != "passed"]
    if failed:
        raise Dropped(
            "lv2",
            f"{failed[0]} fails with the listed interfaces copied into {PACKAGE}"
            " and the library masked",
        )
