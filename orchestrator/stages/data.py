"""Stage data: for each unit of a fail-to-pass file, mask its feature and export valid cases.

Per unit (the whole file, a test class or a group of its tests, see
:mod:`orchestrator.stages.top_units`): classify within the line budget top
chose for it, mask, validate (:mod:`orchestrator.stages.data_checks`),
then export the case repository, scan it and the environment for leaks, and
run the gold check on the exported case itself: ``patch.diff`` and
``test_patch.diff`` applied with ``git apply`` make every test pass, and
``test_patch.diff`` alone does not. Level 2 (``agent_code``) is checked the
same way: the rewritten tests fail against an empty ``agent_code`` and pass
against one that re-exports the original objects.

Everything a case needs is in the item's result, so a cached result writes
the same case again. Every candidate gets a line in
``metadata_outputs/data_status.json``: its case names, or the step that
dropped it and why.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.environments import Environment
from orchestrator.extract import cases as case_files
from orchestrator.extract.classify import (
    Classification,
    ClassifyError,
    classify,
    reached_by_tests,
)
from orchestrator.extract.leaks import (
    distinctive_lines,
    leak_hint,
    scan_environment,
    scan_repository,
)
from orchestrator.extract.masking import Masked, MaskError, Removed, module_name, removed_lines
from orchestrator.extract.worktrees import (
    copy_scratch,
    export_case_repo,
    python_files,
    scratch_dir,
    write_files,
)
from orchestrator.llm import cases as llm_cases
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem, caching_enabled
from orchestrator.pipeline.probe_cache import probe_cache
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.repos import Checkout, file_commit_times
from orchestrator.pipeline.specs import pypi_requirement
from orchestrator.pipeline.storage import file_slug, fingerprint, write_atomic
from orchestrator.stages.data_checks import Dropped, MaskedTree, Runner, Verdict, check_masked
from orchestrator.stages.data_fairness import check_statement_faithful
from orchestrator.stages.data_fallback import (
    attempts_in_top,
    choices,
    fall_back,
    fallback_inputs,
    record_attempts,
    top_failure,
    with_fallbacks,
)
from orchestrator.stages.data_fallback import p2p_files as fallback_p2p_files
from orchestrator.stages.data_images import case_images
from orchestrator.stages.data_level2 import level2_case
from orchestrator.stages.data_status import write_data_status
from orchestrator.stages.data_texts import CaseTexts, case_texts
from orchestrator.stages.stability import confirm_stable
from orchestrator.stages.top import file_hash

_INPUT_KEYS = (
    "repository",
    "test_cmd",
    "timeout_collect",
    "timeout_run",
    "timeout_one",
    "f2p_pass_rate_threshold",
    "min_p2p_files",
    "library_name",
    "black_links",
    "stability_runs",
)
_UNIT_KEYS = ("file", "unit", "tests", "top_objects", "offline_objects", "budget")


class DataStage:
    name = "data"
    version = (
        14  # 2: emptying; 3: leak scan by share; 4: P2P unmasked; 5: mends; 6: named at import
    )
    # 7: total_ordering dunders emptied, classes named by import-time calls kept; 8: units;
    # 9: statement-faithful gold, level 2 from copies, stability reruns; 10: sdists' names;
    # 11: what the file's other tests need is kept back, or emptied when that is enough;
    # 12: a docstring-less interface's stub quotes the F2P test lines that use it;
    # 13: order-dependent P2P tests leave PASS_TO_PASS; stubs quote raises, test lines
    # for documented interfaces, and the members of a class others use
    # 14: LLM-written stubs show the members others use (13 was two branches' number)
    depends_on: tuple[str, ...] = ("p2p",)
    cache_key: str | None = "data_cache"

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        common: dict[str, Any] = {key: getattr(spec, key) for key in _INPUT_KEYS}
        common["seed"] = ctx.seed
        if spec.statement_writer != "template":  # the default keeps earlier cache keys
            common["statement_writer"] = spec.statement_writer
        if ctx.llm is not None and spec.llm_prompt_for_case:  # the LLM writes part of the case
            common["llm"] = llm_cases.identities(ctx.llm)
        return [
            WorkItem(key, {**_unit_inputs(state, key), "p2p_files": p2p, **common})
            for key, p2p in sorted(state.values.get("p2p_choice", {}).items())
        ]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        """The case of the file from top's choice; in LLM mode, from the offline choice
        when the model's cannot make one. Every attempt is recorded."""
        started = time.monotonic()
        top = state.values["top"][item.key]
        attempts = attempts_in_top(top)  # the model's choice failed there already
        for choice, objects in choices(ctx.llm is not None, top):
            try:
                data = build_case_data(ctx, state, item.key, objects)
            except Dropped as dropped:
                details = {"stage": dropped.stage, **dropped.details}
                attempts.append({"choice": choice, "reason": dropped.reason, **details})
                continue
            data["seconds"] = round(time.monotonic() - started, 2)
            record_attempts(data, attempts, choice)
            return Outcome("ok", data=data, keep=not data["llm_texts"].get("failed"))
        reason = "; ".join(f"{a['choice']} choice: {a['reason']}" for a in attempts)
        last = attempts[-1]
        data = {k: v for k, v in last.items() if k not in ("choice", "reason")}
        if len(attempts) > 1:
            data["attempts"] = attempts
        whole = Outcome("failed", reason if len(attempts) > 1 else last["reason"], data=data)
        return fall_back(state, top, whole, lambda unit: self.run(ctx, state, unit))

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        checkout: Checkout = state.values["checkout"]
        written: dict[str, list[str]] = {}
        outcomes = with_fallbacks(outcomes)
        for key, outcome in sorted(outcomes.items()):
            if outcome.status == "ok":
                written[key] = _write_outputs(ctx, state, checkout, key, outcome.data)
        state.values["cases"] = written
        case_images(ctx, state, [name for names in written.values() for name in names])
        candidates = len(state.values.get("f2p", []))
        dropped, units = state.values.get("dropped"), state.values.get("top")
        write_data_status(ctx.metadata, state.name, candidates, outcomes, written, dropped, units)


def _unit_inputs(state: SpecState, unit_key: str) -> dict[str, Any]:
    """What a unit's result depends on from top: its tests, objects (in LLM mode the
    offline ones too, tried when the model's cannot make a case), budget, and the
    smaller units ``auto`` falls back to if it drops, when it has any."""
    unit = state.values["top"][unit_key]
    found = {key: unit[key] for key in _UNIT_KEYS if unit.get(key) or key != "offline_objects"}
    return {**found, **fallback_inputs(state, unit, _UNIT_KEYS), **top_failure(unit)}


def remove_half_built(ctx: RunContext) -> None:
    """What a killed attempt of this run left behind; nothing of it is needed. Called as
    a run starts, never per spec: other specs stream through this stage meanwhile."""
    shutil.rmtree(scratch_root(ctx), ignore_errors=True)
    for building in (ctx.root / "cases").glob("*/.*"):  # case directories half-built
        shutil.rmtree(building, ignore_errors=True)


def scratch_root(ctx: RunContext) -> Path:
    """This run's scratch trees, outside the run (no ini file of ours above them)."""
    return Path(tempfile.gettempdir()) / "featurebench" / fingerprint(str(ctx.root))[:16]


def build_case_data(
    ctx: RunContext, state: SpecState, key: str, objects: list[dict[str, Any]]
) -> dict[str, Any]:
    """Everything needed to write the cases of the unit ``key`` without ``objects``;
    raises Dropped."""
    spec = state.spec.settings
    checkout: Checkout = state.values["checkout"]
    files = python_files(checkout.path)
    unit = state.values["top"][key]
    file = unit["file"]
    if file not in files:  # doctests in a text file (README.md): the test patch carries it
        files[file] = (checkout.path / file).read_text(encoding="utf-8", errors="replace")
    p2p_files = fallback_p2p_files(state, key)
    expected = {path: passed_tests(state, path) for path in [file, *p2p_files]}
    others = [t for t in expected[file] if t not in set(unit["tests"])]
    try:
        classification = classify(
            files,
            objects,
            state.values["traces"],
            p2p_files,
            unit["budget"],
            reached_by_tests(state.values["traces"][file], others),
        )
    except (ClassifyError, MaskError) as exc:
        raise Dropped("classify", str(exc)) from None
    runner = Runner(
        state.values["environment"],
        spec,
        ctx.logs_dir,
        state.name,
        file,
        import_roots(files, _project_paths(state)),
        unit=key,
        tests=[t for t in unit["tests"] if t in set(expected[file])],
        probes=probe_cache(ctx.cache_dir, caching_enabled(ctx, DataStage(), state)),
    )
    with scratch_dir(scratch_root(ctx), "data-") as scratch:
        work = MaskedTree(copy_scratch(checkout.path, scratch / "work"), files)
        try:
            verdict = check_masked(runner, work, classification, expected)
            return _prove_and_describe(ctx, state, runner, scratch, files, verdict)
        except MaskError as exc:
            raise Dropped("mask", str(exc)) from None
        except Dropped as dropped:
            dropped.details = _tried(classification)
            raise


def _prove_and_describe(
    ctx: RunContext,
    state: SpecState,
    runner: Runner,
    scratch: Path,
    files: dict[str, str],
    verdict: Verdict,
) -> dict[str, Any]:
    checkout: Checkout = state.values["checkout"]
    file = runner.file
    masked = verdict.masked
    repo = scratch / "case"
    commit = export_case_repo(build_case_tree(checkout.path, masked, file, scratch / "tree"), repo)
    _scan_for_leaks(runner, repo, files, masked)
    patch = case_files.diff_files(
        {path: (text, files[path]) for path, text in masked.files.items() if path != file}
    )
    test_patch = case_files.diff_files({file: (None, files[file])})
    _gold_check(runner, scratch, repo, patch, test_patch, verdict)
    confirm_stable(runner, scratch / "gold", verdict, state.spec.settings.stability_runs)
    trace = state.values["traces"].get(file)
    fairness = check_statement_faithful(runner, scratch, repo, files, verdict, trace)
    cached = caching_enabled(ctx, DataStage(), state)  # --debug "data=False" asks the LLM again
    private = {t: m.private for t, m in fairness.listing.members.items()}
    texts = case_texts(ctx, state, files, verdict, file, cached, private)
    texts.stubs = fairness.stubs(texts.stubs)
    base = _instance_base(ctx, state, runner, verdict, commit)
    base["statement_faithful_gold"] = "passed"
    lv1 = _case(state, base, 1, texts, test_patch, patch)
    cases = [msgspec.to_builtins(lv1)]
    level2, lv2_note = (
        level2_case(runner, scratch, repo, checkout.path, files, verdict)
        if file.endswith(".py")
        else (None, "no level 2 case: the tests are doctests in a text file")
    )
    if level2 is not None:
        cases.append(msgspec.to_builtins(_case(state, base, 2, texts, level2, None)))
    return {
        "file": file,
        "llm_texts": {"task": texts.task, "docstrings": texts.docstrings, "failed": texts.failed},
        "cases": cases,
        "base_commit": commit,
        "masked_files": masked.files,
        "removed": [_removed_info(r) for r in masked.removed],
        "protected": verdict.classification.protected,
        "budget": verdict.classification.budget,
        "notes": [*verdict.notes, *([lv2_note] if lv2_note else [])],
        "runs": runner.runs,
    }


def _tried(classification: Classification) -> dict[str, object]:
    return {
        "removed": [f"{t.path}::{t.qualname}" for t in classification.targets],
        "emptied": [f"{t.path}::{t.qualname}" for t in classification.stubs],
        "protected": classification.protected,
        "budget": classification.budget,
    }


def _scan_for_leaks(runner: Runner, repo: Path, files: dict[str, str], masked: Masked) -> None:
    kept = {**files, **masked.files}
    kept.pop(runner.file)
    marks = distinctive_lines(masked.removed, kept.values())
    leaks = scan_repository(repo, marks)
    log = runner.log_path("leak_scan", "log")
    leaks += scan_environment(runner.environment, repo, marks, log)
    if leaks:
        more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
        raise Dropped("leak", f"removed code found: {leaks[0]}{more}{leak_hint(leaks[0])}")


def _gold_check(
    runner: Runner, scratch: Path, repo: Path, patch: str, test_patch: str, verdict: Verdict
) -> None:
    wanted = [*verdict.fail_to_pass, *verdict.pass_to_pass]
    for name, text in (("patch.diff", patch), ("test_patch.diff", test_patch)):
        (scratch / name).write_text(text, encoding="utf-8")
    gold = _copy_repo(repo, scratch / "gold")
    for name in ("patch.diff", "test_patch.diff"):
        runner.apply(gold, scratch / name, "f2p_validate", "gold")
    outcomes = runner.pytest(gold, [runner.file, *verdict.p2p_files], "f2p_validate", "gold")
    failed = [t for t in wanted if outcomes.outcomes().get(t) != "passed"]
    if failed:
        first = outcomes.described(failed[0])
        raise Dropped("gold", f"{len(failed)} tests fail with the removed code restored: {first}")
    bare = _copy_repo(repo, scratch / "bare")
    runner.apply(bare, scratch / "test_patch.diff", "f2p_validate", "gold")
    without = runner.pytest(bare, [runner.file], "f2p_validate", "without").outcomes()
    passing = [t for t in verdict.fail_to_pass if without.get(t) == "passed"]
    if passing:
        raise Dropped("gold", f"{passing[0]} passes without the patch")


def _copy_repo(repo: Path, into: Path) -> Path:
    shutil.copytree(repo, into, symlinks=True)
    return into


def build_case_tree(checkout: Path, masked: Masked, file: str, into: Path) -> Path:
    """The checkout with the mask on and the fail-to-pass file taken out."""
    tree = copy_scratch(checkout, into)
    write_files(tree, {**masked.files, file: None})
    return tree


def _case(
    state: SpecState,
    base: dict[str, Any],
    level: int,
    texts: CaseTexts,
    test_patch: str,
    patch: str | None,
) -> case_files.CaseFiles:
    spec = state.spec.settings
    instance_id = f"{base['instance_id']}.lv{level}"
    instance = {**base, "instance_id": instance_id, "level": level}
    config = {
        "instance_id": instance_id,
        "level": level,
        "backend": base["environment"]["backend"],
        "environment": base["environment"]["key"],
        "image": base["environment"].get("image"),
        "python_version": spec.python_version,
        "pythonpath": base["environment"]["pythonpath"],
        "test_cmd": spec.test_cmd,
        "test_files": [base["test_file"], *base["p2p_files"]],
        "timeout_run": spec.timeout_run,
    }
    pypi = pypi_requirement(base["repo"])  # an sdist's statement names the library, not the spec
    library = spec.library_name or (pypi[0] if pypi else base["repo"])
    statement = registry("statement_writers").get(spec.statement_writer)(
        level, library, spec.black_links, texts.stubs, texts.task
    )
    name = instance_id.rsplit(".", 4)[-4:]  # {test}.{unit}.{hash}.lv{level}
    return case_files.CaseFiles(
        name=".".join(name),
        level=level,
        instance=instance,
        config=config,
        problem_statement=statement,
        test_patch=test_patch,
        patch=patch,
    )


def _instance_base(
    ctx: RunContext, state: SpecState, runner: Runner, verdict: Verdict, commit: str
) -> dict[str, Any]:
    checkout: Checkout = state.values["checkout"]
    environment: Environment = runner.environment
    file = runner.file
    created, updated = file_commit_times(checkout.path, file)
    settings = msgspec.to_builtins(state.spec.settings)
    settings["commit"] = checkout.commit
    removed = verdict.masked.removed
    env: dict[str, Any] = {
        "backend": environment.backend,
        "key": environment.key,
        "python_version": state.spec.settings.python_version,
        "pythonpath": runner.pythonpath,
    }
    if environment.backend == "docker":
        env["image"] = f"featurebench/instance:{environment.key}"
    stem = Path(file).stem
    unit = state.values["top"][runner.unit]
    name = f"{stem}.{unit['unit']}.{file_hash(runner.unit)}"
    return {
        "instance_id": f"{checkout.slug}.{checkout.commit[:8]}.{name}",
        "repo": state.spec.settings.repository,
        "base_commit": commit,
        "original_commit": checkout.commit,
        "environment": env,
        "repo_settings": settings,
        "test_file": file,
        "unit": unit["unit"],
        "p2p_files": verdict.p2p_files,
        "FAIL_TO_PASS": verdict.fail_to_pass,
        "PASS_TO_PASS": verdict.pass_to_pass,
        "top_objects": [f"{t.path}::{t.qualname}" for t in verdict.classification.features],
        "emptied": [f"{t.path}::{t.qualname}" for t in verdict.classification.stubs],
        "lines": removed_lines(removed),
        "files": sorted({r.target.path for r in removed}),
        "functions": [f"{r.target.path}::{r.target.qualname}" for r in removed],
        "f2p_test_points": len(verdict.fail_to_pass),
        "p2p_test_points": len(verdict.pass_to_pass),
        "f2p_pass_rate_masked": verdict.pass_rate,
        "create_time": created,
        "upd_time": updated,
    }


def _removed_info(removed: Removed) -> dict[str, Any]:
    return {
        "path": removed.target.path,
        "qualname": removed.target.qualname,
        "start": removed.start,
        "end": removed.end,
    }


def _write_outputs(
    ctx: RunContext, state: SpecState, checkout: Checkout, key: str, data: dict[str, Any]
) -> list[str]:
    """The case directories, masked files and mask diff of one unit; returns case names."""
    folder = ctx.root / "cases" / f"{checkout.slug}.{checkout.commit[:8]}"
    digest, file = file_hash(key), data["file"]
    files = python_files(checkout.path)
    masked_files: dict[str, str] = data["masked_files"]
    masked_dir = ctx.metadata / "masked_files" / state.name / digest
    for path, text in masked_files.items():
        write_atomic(masked_dir / path, text.encode())
    diff = case_files.diff_files({p: (files[p], text) for p, text in masked_files.items()})
    diff_dir = ctx.root / "debug_outputs" / "mask_diff" / state.name / digest
    write_atomic(diff_dir / "mask.diff", diff.encode())
    _write_llm_texts(ctx, state.name, digest, data.get("llm_texts") or {})
    masked = Masked(files=masked_files, removed=[], dropped_names={})
    names: list[str] = []
    with scratch_dir(scratch_root(ctx), "export-") as scratch:
        tree = build_case_tree(checkout.path, masked, file, scratch / "tree")
        commit = export_case_repo(tree, scratch / "repo")
        if commit != data["base_commit"]:  # the checkout changed under the cached result
            ctx.warn(f"{state.name} {key}: case repository differs from the validated one")
            return []
        for case in data["cases"]:
            parsed = msgspec.convert(case, case_files.CaseFiles)
            case_files.write_case(folder / parsed.name, parsed, scratch / "repo")
            names.append(f"{folder.name}/{parsed.name}")  # unique across repositories
    return names


def _write_llm_texts(ctx: RunContext, spec: str, digest: str, texts: dict[str, Any]) -> None:
    """Seed 000's llm_task_statement/ and llm_docstring/ outputs, when the LLM wrote any."""
    if texts.get("task"):
        path = ctx.metadata / "llm_task_statement" / spec / f"{digest}.txt"
        write_atomic(path, (texts["task"] + "\n").encode())
    for key, docstring in (texts.get("docstrings") or {}).items():
        folder = ctx.metadata / "llm_docstring" / spec / digest
        write_atomic(folder / f"{file_slug(key)}.txt", docstring.encode())


def import_roots(files: dict[str, str], project: set[str]) -> list[str]:
    """The directories the project's modules are imported from (``.`` or ``src``, say)."""
    roots = {"."}
    paths = set(files)
    for path in project:
        name = module_name(path, paths)
        if name is None:
            continue
        # The module's own components: pkg/keys.py is two, pkg/__init__.py two as well.
        depth = name.count(".") + 1 + path.endswith("__init__.py")
        parts = Path(path).parts[:-depth]
        roots.add(Path(*parts).as_posix() if parts else ".")
    return sorted(roots)


def _project_paths(state: SpecState) -> set[str]:
    traces = state.values["traces"]
    return {
        row[0]
        for trace in traces.values()
        for rows in [trace.import_time, *(test.calls for test in trace.tests.values())]
        for row in rows
    }


def passed_tests(state: SpecState, path: str) -> list[str]:
    """The tests of ``path`` that passed in the runner."""
    outcome: Outcome = state.values["runner"][path]
    tests: dict[str, str] = (outcome.data or {}).get("tests", {})
    return sorted(nodeid for nodeid, result in tests.items() if result == "passed")
