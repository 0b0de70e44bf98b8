"""Level 2 of a case: the agent writes the feature from scratch as ``agent_code``.

The fail-to-pass tests are rewritten, by their imports and without an LLM, to
take the removed objects from ``agent_code``. The rewrite is proved both ways
before the case is written (logs under ``logs/level2_validate/``):

- against the masked repository and an empty ``agent_code``, the tests that
  must go from failing to passing all fail;
- against the original repository and an ``agent_code`` that re-exports the
  original objects, every one of the file's tests passes.

Only module-level objects can come from another package: a file whose top
objects include a method gets no level 2 case (the note says so).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.extract.agent_views import AGENT_PACKAGE, agent_code_init, rewrite_for_agent_code
from orchestrator.extract.masking import module_name, names_of
from orchestrator.extract.worktrees import copy_scratch, write_files
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
        _reexport_passes(runner, scratch, checkout, files, rewritten, verdict)
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


def _reexport_passes(
    runner: Runner,
    scratch: Path,
    checkout: Path,
    files: dict[str, str],
    rewritten: str,
    verdict: Verdict,
) -> None:
    tree = copy_scratch(checkout, scratch / "lv2-gold")
    objects = [(t.path, t.qualname) for t in verdict.classification.features]
    package = agent_code_init(objects, set(files))
    write_files(tree, {f"{PACKAGE}/__init__.py": package, runner.file: rewritten})
    outcomes = runner.pytest(tree, [runner.file], "level2_validate", "gold").outcomes()
    wanted = [
        *verdict.fail_to_pass,
        *(t for t in verdict.pass_to_pass if t.startswith(f"{runner.file}::")),
    ]
    failed = [t for t in wanted if outcomes.get(t) != "passed"]
    if failed:
        raise Dropped("lv2", f"{failed[0]} fails against the original objects in {PACKAGE}")
