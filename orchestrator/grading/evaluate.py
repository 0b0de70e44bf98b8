"""``fbench eval``: grade patches against the cases of a run, the way a harness would.

For each case: copy its repository, apply the patch with ``git apply`` (with
``--patch-fuzz``, SWE-bench's fallbacks after it), flag a patch whose non-test
code reaches for pytest or the interpreter's hooks (:mod:`.tamper`), put the
case's own test files and every file that steers pytest or Python back (so
editing them cannot help), apply ``test_patch.diff`` and run the fail-to-pass
and pass-to-pass files through the plugin in the case's environment, which
the sandbox keeps read-only. Grading is strict (:func:`grade`):

- resolved: every F2P and P2P test passed and pytest's exit code is 0;
- a missing or skipped test counts as failed, pass-to-pass ones included;
- a session that ran no test, crashed or timed out is an error, never a pass;
- a patch that does not apply is "patch failed", with git's reason;
- a suspicious patch is unresolved, with what it did, and is not run.

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
from orchestrator.environments.sandbox import sandbox_mode
from orchestrator.errors import FbenchError, Interrupted, StageError
from orchestrator.extract.worktrees import apply_patch, scratch_dir
from orchestrator.grading.eval_inputs import Case, Predictions, load_cases, load_predictions
from orchestrator.grading.eval_journal import grade_key, keep, kept, resume_command
from orchestrator.grading.eval_report import InstanceResult, refuse_overwrite, write_model_report
from orchestrator.grading.tamper import restore_tests, suspicious_changes
from orchestrator.pipeline import interrupt
from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.process import run_command
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.storage import (
    ResultCache,
    cache_lock,
    default_cache_dir,
    file_slug,
    run_cache_dir,
)

Progress = Callable[[str, int, int], None]
_TOOL_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}


@dataclass
class EvalOptions:
    cases: Path
    predictions: str  # a JSONL file, or "gold" / "empty"
    jobs: int = 1
    backend: str | None = None  # None: each case's own backend
    report: Path | None = None  # None: <cases>/evaluations
    cache_dir: Path | None = None
    force: bool = False  # replace a model's earlier report
    patch_fuzz: bool = False  # SWE-bench's chain: git apply, then --reject, then patch --fuzz
    sandbox: bool = True  # False only with --no-sandbox
    resume: bool = False  # reuse the grades an interrupted eval of this --report kept
    executor: str = "local"  # ray: one Ray task per case (orchestrator/executors/ray_eval.py)
    ray_address: str | None = None


def evaluate(options: EvalOptions, progress: Progress) -> list[Path]:
    """Grade every model's predictions; returns the JSON reports written, one per model."""
    cases = load_cases(options.cases)
    predictions = load_predictions(options.predictions, cases)
    if options.sandbox and (options.backend or "local") == "local":
        sandbox_mode()  # a machine where nothing can confine the tests refuses up front
    out = (options.report or options.cases / "evaluations").resolve()
    for model in () if options.force or options.resume else predictions.models:
        refuse_overwrite(out / file_slug(model), model)
    options = dataclasses.replace(options, report=out)
    try:
        return _evaluate(options, cases, predictions, progress)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; the cases graded so far are kept in {out}; continue with:"
            f" {resume_command(options)}",
            run_dir=out,
        ) from None


def _evaluate(
    options: EvalOptions, cases: dict[str, Case], predictions: Predictions, progress: Progress
) -> list[Path]:
    assert options.report is not None
    cache_dir = options.cache_dir or run_cache_dir(options.cases) or default_cache_dir()
    ctx = _context(options.report, cache_dir.resolve(), options)
    # Only the environments of cases with a prediction: another machine builds no more.
    predicted = {iid: cases[iid] for patches in predictions.models.values() for iid in patches}
    on_ray = options.executor == "ray"  # the environments are then found on the nodes
    environments = {} if on_ray else _environments(ctx, predicted, options.backend)
    reports = []
    for model, submitted in predictions.models.items():
        folder = options.report / file_slug(model)
        if on_ray:
            results = _grade_on_ray(options, ctx, cases, submitted, folder, (model, progress))
        else:
            jobs = [(cases[i], patch, environments[i]) for i, patch in sorted(submitted.items())]
            results = _run_all(jobs, folder / "logs", options, model, progress)
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


def _grade_on_ray(
    options: EvalOptions,
    ctx: RunContext,
    cases: dict[str, Case],
    submitted: dict[str, str],
    folder: Path,
    show: tuple[str, Progress],
) -> list[InstanceResult]:
    from orchestrator.executors.ray_eval import grade_on_ray  # Ray: imported when asked for

    jobs = [(cases[iid], patch) for iid, patch in sorted(submitted.items())]
    return grade_on_ray(
        options.ray_address, ctx, jobs, folder / "logs", show, options.patch_fuzz, options.backend
    )


def _run_all(
    jobs: list[Job], logs: Path, options: EvalOptions, model: str, progress: Progress
) -> list[InstanceResult]:
    """Grade the cases on a thread pool (the work is in subprocesses), in order.

    Ctrl-C drops the queued cases instead of waiting for them; each case graded
    is kept at once, for ``--resume``.
    """

    def one(job: Job) -> InstanceResult:
        case, patch, environment = job
        key = grade_key(case, patch, options)
        found = kept(logs / case.instance_id, key) if options.resume else None
        if found is not None:
            return found
        result = evaluate_case(environment, case, patch, logs, fuzz=options.patch_fuzz)
        if result.status != "error":  # an infrastructure error is tried again
            keep(logs / case.instance_id, key, result)
        return result

    results: list[InstanceResult] = []
    progress(model, 0, len(jobs))
    pool = ThreadPoolExecutor(max_workers=max(1, options.jobs))
    try:
        for future in [pool.submit(one, job) for job in jobs]:
            results.append(interrupt.wait(future))
            progress(model, len(results), len(jobs))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
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
        sandbox=options.sandbox,
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
    environment: Environment | Unavailable,
    case: Case,
    patch: str,
    logs: Path,
    *,
    fuzz: bool = False,
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
        try:
            _patched_tree(case, patch, tree, logs / "apply.log", fuzz)
        except StageError as exc:
            return InstanceResult(case.instance_id, "patch failed", str(exc))
        flagged = suspicious_changes(tree, case)
        if flagged:
            why = f"suspicious: non-test code {'; '.join(flagged)}"
            suspicious = InstanceResult(case.instance_id, "unresolved", why)
            suspicious.suspicious = True
            return suspicious
        try:
            restore_tests(tree, case, logs / "apply.log")
        except StageError as exc:
            return InstanceResult(case.instance_id, "error", f"restoring tests: {exc}")
        try:
            run = _run_tests(environment, case, tree, logs)
        except FbenchError as exc:  # the engine failed (a Docker daemon gone): this case only
            return InstanceResult(case.instance_id, "error", str(exc))
    grader = registry("graders").get(case.instance["repo_settings"].get("grader", "strict"))
    result: InstanceResult = grader(case.instance, run)
    result.seconds = round(time.monotonic() - started, 2)
    return result


@contextmanager
def _scratch() -> Iterator[Path]:
    with scratch_dir(Path(tempfile.gettempdir()) / "featurebench", "eval-") as path:
        yield path


def _patched_tree(case: Case, text: str, tree: Path, log: Path, fuzz: bool) -> None:
    """A copy of the case repository at ``tree``, patched; StageError if it cannot be."""
    shutil.copytree(case.path / "repo", tree, symlinks=True)
    if not text.strip():
        return
    patch = tree.parent / "model.patch"
    # git apply calls a patch whose last line lacks its newline corrupt.
    patch.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    try:
        apply_patch(tree, patch, log)
    except StageError:
        if not fuzz:
            raise
        _apply_with_fallbacks(case, tree, patch, log)


def _apply_with_fallbacks(case: Case, tree: Path, patch: Path, log: Path) -> None:
    """SWE-bench's fallbacks after ``git apply``, each on a fresh copy: ``--reject``, then fuzz."""
    fallbacks = [
        ["git", "apply", "--whitespace=nowarn", "--reject", str(patch)],
        ["patch", "--batch", "--fuzz=5", "-p1", "--no-backup-if-mismatch", "-i", str(patch)],
    ]
    result = None
    for command in fallbacks:
        shutil.rmtree(tree)
        shutil.copytree(case.path / "repo", tree, symlinks=True)
        result = run_command(command, cwd=tree, env=_TOOL_ENV, log_path=log, timeout=120)
        if result.ok:
            return
    assert result is not None
    raise StageError(f"the patch does not apply, even with fuzz: {result.tail(300).strip()}")


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
