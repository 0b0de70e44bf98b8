"""``fbench eval``: grade patches against the cases of a run, the way a harness would.

For each case: copy its repository, apply the patch with ``git apply``, put
the case's own test files back (so editing tests cannot help), apply
``test_patch.diff`` and run the fail-to-pass and pass-to-pass files through
the plugin in the case's environment. Grading is strict (:func:`grade`):

- resolved: every F2P and P2P test passed and pytest's exit code is 0;
- a missing or skipped test counts as failed;
- a session that ran no test, crashed or timed out is an error, never a pass;
- a patch that does not apply is "patch failed", with git's reason.

A failure of one case is recorded with its reason; only bad input (the run
directory, the predictions file) stops the command.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from orchestrator.environments import Environment, make_environment
from orchestrator.errors import FbenchError, StageError
from orchestrator.extract.worktrees import apply_patch, scratch_dir
from orchestrator.grading.eval_inputs import Case, load_cases, load_predictions
from orchestrator.grading.eval_report import InstanceResult, refuse_overwrite, write_model_report
from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.storage import (
    ResultCache,
    cache_lock,
    default_cache_dir,
    file_slug,
    run_cache_dir,
)

# Files that decide how pytest runs: an agent's version of them never counts.
PROTECTED_NAMES = frozenset(
    ("conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
)

Progress = Callable[[str, int, int], None]


@dataclass
class EvalOptions:
    cases: Path
    predictions: str  # a JSONL file, or "gold" / "empty"
    jobs: int = 1
    backend: str | None = None  # None: each case's own backend
    report: Path | None = None  # None: <cases>/evaluations
    cache_dir: Path | None = None
    force: bool = False  # replace a model's earlier report


def evaluate(options: EvalOptions, progress: Progress) -> list[Path]:
    """Grade every model's predictions; returns the JSON reports written, one per model."""
    cases = load_cases(options.cases)
    predictions = load_predictions(options.predictions, cases)
    out = (options.report or options.cases / "evaluations").resolve()
    for model in () if options.force else predictions.models:
        refuse_overwrite(out / file_slug(model), model)
    cache_dir = options.cache_dir or run_cache_dir(options.cases) or default_cache_dir()
    ctx = _context(out, cache_dir.resolve(), options)
    # Only the environments of cases with a prediction: another machine builds no more.
    predicted = {iid: cases[iid] for patches in predictions.models.values() for iid in patches}
    environments = _environments(ctx, predicted, options.backend)
    reports = []
    for model, submitted in predictions.models.items():
        folder = out / file_slug(model)
        jobs = [(cases[iid], patch, environments[iid]) for iid, patch in sorted(submitted.items())]
        results = _run_all(jobs, folder / "logs", options.jobs, model, progress)
        reports.append(
            write_model_report(
                folder,
                model=model,
                source=options.predictions,
                cases=cases,
                results=results,
                unknown=predictions.unknown.get(model, []),
                missing_reasons=predictions.missing_reasons,
                patches=submitted,
            )
        )
    return reports


def _run_all(
    jobs: list[Job], logs: Path, workers: int, model: str, progress: Progress
) -> list[InstanceResult]:
    """Grade the cases on a thread pool (the work is in subprocesses), in order."""

    def one(job: Job) -> InstanceResult:
        case, patch, environment = job
        return evaluate_case(environment, case, patch, logs)

    results: list[InstanceResult] = []
    progress(model, 0, len(jobs))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(one, jobs):
            results.append(result)
            progress(model, len(results), len(jobs))
    return results


def _context(out: Path, cache_dir: Path, options: EvalOptions) -> RunContext:
    """A run context for environments: logs and mounts under the evaluation directory."""
    (out / "logs").mkdir(parents=True, exist_ok=True)
    return RunContext(
        root=out,
        cache=ResultCache(cache_dir),
        journal=ResultCache(out / "logs" / "journal"),
        jobs=options.jobs,
        seed=0,
        logs_dir=out / "logs",
        repos_dir=cache_dir / "repos",
        cache_dir=cache_dir,
        backend=options.backend or "local",
    )


class Unavailable:
    """An environment that could not be built: every case in it is an error, with why."""

    def __init__(self, reason: str):
        self.reason = reason


Job = tuple[Case, str, Environment | Unavailable]  # a case, its patch, where it runs


def _environments(
    ctx: RunContext, cases: dict[str, Case], backend: str | None
) -> dict[str, Environment | Unavailable]:
    """Each case's environment, built once per key (from a copy of a case repository) if absent."""
    by_key: dict[tuple[str, str], Environment | Unavailable] = {}
    found: dict[str, Environment | Unavailable] = {}
    for iid, case in sorted(cases.items()):
        env = case.instance["environment"]
        wanted = (backend or env["backend"], env["key"])
        if wanted not in by_key:  # another eval on this cache may be building it: wait
            with cache_lock(ctx.cache_dir, "environment", f"{wanted[1]}-eval"):
                by_key[wanted] = _ready(ctx, wanted[0], case)
        found[iid] = by_key[wanted]
    return found


def _ready(ctx: RunContext, backend: str, case: Case) -> Environment | Unavailable:
    key = case.instance["environment"]["key"]
    spec = msgspec.convert(case.instance["repo_settings"], RepoSpec)
    context = dataclasses.replace(ctx, backend=backend)
    environment = make_environment(context, key, spec)
    log = ctx.logs_dir / "environments" / f"{key}.log"
    try:
        if environment.exists():
            return environment
        # Built here from a masked repository, it must never pass for the environment
        # build-cases made under this key: its own key keeps the two apart in the cache.
        key = f"{key}-eval"
        environment = make_environment(context, key, spec)
        if environment.exists():
            return environment
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(f"# environment {key} not found: building it from {case.path / 'repo'}\n")
        # Installed from a copy kept beside the logs: an editable install points at it.
        source = ctx.root / "environments" / key / "repo"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(case.path / "repo", source, symlinks=True)
        environment.create(log)
        environment.install(source, log)
        return environment
    except FbenchError as exc:
        return Unavailable(f"environment {key} could not be built: {exc}")


def evaluate_case(
    environment: Environment | Unavailable, case: Case, patch: str, logs: Path
) -> InstanceResult:
    """Apply ``patch`` to a copy of the case, restore its tests, run and grade them."""
    started = time.monotonic()
    logs = logs / case.instance_id
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    if isinstance(environment, Unavailable):
        return InstanceResult(case.instance_id, "error", environment.reason)
    with _scratch() as scratch:
        tree = scratch / "repo"
        shutil.copytree(case.path / "repo", tree, symlinks=True)
        if patch.strip():
            try:
                _apply_text(tree, patch, scratch / "model.patch", logs / "apply.log")
            except StageError as exc:
                return InstanceResult(case.instance_id, "patch failed", str(exc))
        try:
            restore_tests(tree, case, logs / "apply.log")
        except StageError as exc:
            return InstanceResult(case.instance_id, "error", f"restoring tests: {exc}")
        try:
            run = _run_tests(environment, case, tree, logs)
        except FbenchError as exc:  # the engine failed (a Docker daemon gone): this case only
            return InstanceResult(case.instance_id, "error", str(exc))
    result = grade(case.instance, run)
    result.seconds = round(time.monotonic() - started, 2)
    return result


@contextmanager
def _scratch() -> Iterator[Path]:
    with scratch_dir(Path(tempfile.gettempdir()) / "featurebench", "eval-") as path:
        yield path


def _apply_text(tree: Path, text: str, patch: Path, log: Path) -> None:
    # git apply calls a patch whose last line lacks its newline corrupt.
    patch.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    apply_patch(tree, patch, log)


def restore_tests(tree: Path, case: Case, log: Path) -> None:
    """Put the case's test files and pytest configuration back, then apply test_patch.diff.

    The fail-to-pass file is not in the case repository, so whatever the patch
    made of it is deleted; so are test configuration files the patch added.
    """
    original = case.path / "repo"
    paths = {case.instance["test_file"], *case.instance["p2p_files"]}
    for root in (tree, original):
        paths.update(_protected_files(root))
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


def _protected_files(root: Path) -> set[str]:
    found = set()
    for name in PROTECTED_NAMES:
        for path in root.rglob(name):
            relative = path.relative_to(root)
            if ".git" not in relative.parts:
                found.add(relative.as_posix())
    return found


def _run_tests(environment: Environment, case: Case, tree: Path, logs: Path) -> PytestRun:
    info = case.instance
    spec = msgspec.convert(info["repo_settings"], RepoSpec)
    extra = ["--continue-on-collection-errors"]  # a broken F2P file must not hide the P2P tests
    if spec.timeout_one:
        extra += ["--fb-timeout", str(spec.timeout_one)]
    return run_pytest(
        environment,
        [*spec.test_cmd, info["test_file"], *info["p2p_files"]],
        repo=tree,
        records=logs / "records.jsonl",
        timeout=seconds(spec.timeout_run),
        log=logs / "pytest.log",
        extra=extra,
        pythonpath=info["environment"]["pythonpath"],
    )


def grade(instance: dict[str, Any], run: PytestRun) -> InstanceResult:
    """The strict verdict of one run, from the plugin's records and the exit code."""
    iid = instance["instance_id"]
    f2p: list[str] = instance["FAIL_TO_PASS"]
    p2p: list[str] = instance["PASS_TO_PASS"]
    if not run.complete:
        return InstanceResult(iid, "error", f"pytest {run.why_incomplete()}", f2p_total=len(f2p))
    outcomes = run.outcomes()
    f2p_passed = sum(1 for t in f2p if outcomes.get(t) == "passed")
    p2p_passed = sum(1 for t in p2p if outcomes.get(t) == "passed")
    counts = {"f2p_passed": f2p_passed, "f2p_total": len(f2p), "p2p_passed": p2p_passed}
    counts["p2p_total"] = len(p2p)
    code = run.result.returncode
    if not outcomes:
        why = _collect_error(run) or "no test ran"
        return InstanceResult(iid, "error", why, exit_code=code, **counts)
    failing = [t for t in [*f2p, *p2p] if outcomes.get(t) != "passed"]
    if failing:
        first = failing[0]
        outcome = outcomes.get(first, "missing")
        detail = run.summaries().get(first) or (_collect_error(run) if outcome == "missing" else "")
        reason = f"{len(failing)} of {len(f2p) + len(p2p)} tests did not pass; {first}: {outcome}"
        reason += f" ({detail})" if detail else ""
        return InstanceResult(iid, "unresolved", reason, exit_code=code, **counts)
    if code != 0:
        reason = f"every test passed but pytest exited {code}"
        return InstanceResult(iid, "unresolved", reason, exit_code=code, **counts)
    return InstanceResult(iid, "resolved", "", exit_code=code, **counts)


def _collect_error(run: PytestRun) -> str:
    errors = run.collect_errors()
    if not errors:
        return ""
    last = (errors[0].message.strip().splitlines() or [""])[-1]
    return f"collecting {errors[0].nodeid or errors[0].file} failed: {last}"
