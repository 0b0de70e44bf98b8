"""The data stage's work on one fail-to-pass file: mask, then prove the case valid.

Every test run happens in the spec's own environment, against scratch copies
of the checkout (the ``pythonpath`` of each run puts the copy first, ahead of
the editable install): masking never starts a new virtualenv or container.

1. Classify (:mod:`orchestrator.extract.classify`) and mask (:mod:`orchestrator.extract.masking`).
2. Probe: ``pytest --collect-only`` of the file and the chosen pass-to-pass
   files (``timeout_collect``).
3. Fail-to-pass: the file's tests, with the imports of removed names taken
   out, must collect, and at most ``f2p_pass_rate_threshold`` of the tests
   that passed before may pass now (missing or skipped ones count as failed).
4. Pass-to-pass: every chosen file passes fully. A failure is rerun; if the
   rerun passes, the file is flaky and left out. If it fails in the work tree
   with nothing removed, it depends on where the tree is and is left out too.
   Otherwise the removed object it needs is found by bisection and kept, and
   the checks start again.
5. Export, leak scan, and the gold check on the case repository itself.

A pytest session that times out or crashes is an infrastructure error (a
StageError): the file is not dropped, and the next run tries it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.environments import Environment
from orchestrator.errors import StageError
from orchestrator.extract.classify import Classification
from orchestrator.extract.masking import Masked, MaskError, Target
from orchestrator.extract.stubbing import mask_with_stubs
from orchestrator.extract.worktrees import apply_patch, write_files
from orchestrator.pipeline.probe_cache import Probe, ProbeCache
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.storage import file_slug

MAX_ROUNDS = 4  # objects kept back for pass-to-pass files before a case is given up


class Dropped(Exception):
    """The candidate is dropped at ``stage`` for ``reason``."""

    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.details: dict[str, object] = {}  # what was tried, for data_status.json


@dataclass
class Runner:
    """Runs pytest in the spec's environment on scratch trees, logging by step."""

    environment: Environment
    spec: RepoSpec
    logs: Path  # logs/<kind>/<spec>/ is built from here
    spec_name: str
    file: str
    pythonpath: list[str]
    runs: int = 0
    unit: str = ""  # the unit's key, naming its logs (one file may give several units)
    tests: list[str] = field(default_factory=list)  # the unit's tests; empty: the whole file
    probes: ProbeCache | None = None  # results reused by content; None: every probe runs

    def pytest(
        self,
        tree: Path,
        targets: list[str],
        kind: str,
        step: str,
        collect: bool = False,
        rerun: int = 0,
    ) -> PytestRun:
        """One session; ``rerun``: which repetition of the same probe (a rerun re-checks
        the result before it, so it is never given that one from the probe cache)."""
        self.runs += 1
        base = self.log_path(kind, step)
        timeout = seconds(self.spec.timeout_collect if collect else self.spec.timeout_run)
        command = [*self.spec.test_cmd, *(["--collect-only"] if collect else []), *targets]
        extra = ["--fb-timeout", str(self.spec.timeout_one)] if self.spec.timeout_one else []
        outputs = (base.with_name(f"{base.name}.jsonl"), base.with_name(f"{base.name}.log"))

        def execute() -> PytestRun:
            return run_pytest(
                self.environment,
                command,
                repo=tree,
                records=outputs[0],
                timeout=timeout,
                log=outputs[1],
                pythonpath=self.pythonpath,
                extra=extra,
                warm=True,  # forked from a warm worker where the sandbox allows; same outcomes
            )

        settings = {"pythonpath": self.pythonpath, "timeout": timeout, "rerun": rerun}
        probe = Probe(self.environment, tree, [*command, *extra], settings, outputs)
        run = self.probes.run(probe, execute) if self.probes is not None else execute()
        if not run.complete:  # a timeout or a crash: retried next run, like the runner's
            raise StageError(f"{kind} {step}: pytest {run.why_incomplete()}")
        return run

    def log_path(self, kind: str, step: str) -> Path:
        """``logs/<kind>/<spec>/<file slug>.<step>``: one name per file and step, no clashes."""
        return self.logs / kind / self.spec_name / f"{file_slug(self.unit or self.file)}.{step}"

    def apply(self, tree: Path, patch: Path, kind: str, stage: str) -> None:
        """``git apply`` a case patch; a patch that does not apply drops the candidate."""
        try:
            apply_patch(tree, patch, self.log_path(kind, f"{patch.name}.log"))
        except StageError as exc:
            raise Dropped(stage, str(exc)) from None


@dataclass
class MaskedTree:
    """One scratch copy of the checkout, carrying one mask at a time."""

    tree: Path
    files: dict[str, str]  # every .py file of the checkout, as committed
    current: dict[str, str] = field(default_factory=dict)

    def put(self, targets: list[Target], stubs: list[Target]) -> Masked:
        masked = mask_with_stubs(self.files, targets, stubs)
        restore: dict[str, str | None] = {p: self.files[p] for p in self.current}
        write_files(self.tree, {**restore, **masked.files})
        self.current = dict(masked.files)
        return masked


@dataclass
class Verdict:
    masked: Masked
    classification: Classification
    fail_to_pass: list[str]
    pass_to_pass: list[str]
    p2p_files: list[str]
    pass_rate: float
    notes: list[str]


def check_masked(
    runner: Runner,
    work: MaskedTree,
    classification: Classification,
    expected: dict[str, list[str]],
) -> Verdict:
    """Steps 2 to 4, repeated while objects are kept back for pass-to-pass files."""
    notes: list[str] = []
    p2p_files = [path for path in expected if path != runner.file]
    unit = runner.tests or expected[runner.file]
    others = [t for t in expected[runner.file] if t not in set(unit)]  # must keep passing
    for round_ in range(MAX_ROUNDS):
        masked = work.put(classification.targets, classification.stubs)
        _probe(runner, work.tree, p2p_files, round_)
        failing, passing, rate, own = _fail_to_pass(runner, work.tree, unit, others, round_)
        if own:  # the file's tests outside the unit need something removed: find it
            notes.append(_keep_for_own_tests(runner, work, classification, own, round_))
            continue
        broken, flaky = _pass_to_pass(runner, work.tree, p2p_files, expected, round_)
        for path in flaky:
            notes.append(f"{path}: flaky after masking, left out")
            p2p_files.remove(path)
        if not broken:
            if len(p2p_files) + bool(others) < runner.spec.min_p2p_files:  # others: one file
                need = f"need {runner.spec.min_p2p_files} (min_p2p_files)"
                raise Dropped("p2p", f"only {len(p2p_files)} pass-to-pass files stay green; {need}")
            p2p_tests = [t for path in p2p_files for t in expected[path]]
            return Verdict(
                masked,
                classification,
                failing,
                passing + others + p2p_tests,
                p2p_files,
                rate,
                notes,
            )
        still = _files_failing(broken, expected)
        kept = _keep_back(runner, work, classification, (broken, still), round_)
        if kept is None:  # they fail in a copy of the checkout, masked or not
            notes += [
                f"{path}: fails in a copy of the checkout even unmasked, left out"
                for path in broken
            ]
            p2p_files = [path for path in p2p_files if path not in broken]
            continue
        notes.append(f"{kept}: {', '.join(broken)} need it")
    raise Dropped("p2p", f"still failing after keeping back {MAX_ROUNDS} objects")


def _keep_for_own_tests(
    runner: Runner, work: MaskedTree, classification: Classification, own: list[str], round_: int
) -> str:
    """Keep back (or only empty) what the file's failing tests outside the unit need; the note.

    Raises Dropped when they fail unmasked too, or need a top object removed whole.
    """

    def still(run: PytestRun) -> bool:
        outcomes = run.outcomes()
        return any(outcomes.get(t) != "passed" for t in own)

    why = f"{len(own)} of the file's tests outside the unit fail after masking, first {own[0]}"
    try:
        kept = _keep_back(runner, work, classification, ([runner.file], still), round_)
    except Dropped as dropped:
        raise Dropped("f2p", f"{why}: {dropped.reason.split(' and ', 1)[-1]}") from None
    if kept is None:
        raise Dropped("f2p", f"{why}, even with nothing removed")
    return f"{kept}: the file's tests outside the unit need it ({own[0]})"


def _files_failing(files: list[str], expected: dict[str, list[str]]) -> Callable[[PytestRun], bool]:
    return lambda run: bool(_failing_files(run, files, expected))


def _probe(runner: Runner, tree: Path, p2p_files: list[str], round_: int) -> None:
    run = runner.pytest(tree, [runner.file, *p2p_files], "mask_generator", f"collect{round_}", True)
    for error in run.collect_errors():
        if runner.file in (error.file, error.nodeid.split("::")[0]):
            last = (error.message.strip().splitlines() or [""])[-1]
            raise Dropped("collect", f"{runner.file} no longer collects: {last}")


def _fail_to_pass(
    runner: Runner, tree: Path, tests: list[str], others: list[str], round_: int
) -> tuple[list[str], list[str], float, list[str]]:
    """The unit's tests that fail and pass masked, the pass rate, and the file's tests
    outside the unit that fail (they must pass: something they need is kept back)."""
    outcomes = runner.pytest(tree, [runner.file], "f2p_validate", f"masked{round_}").outcomes()
    passing = [t for t in tests if outcomes.get(t) == "passed"]
    failing = [t for t in tests if t not in passing]
    rate = len(passing) / len(tests) if tests else 1.0
    threshold = runner.spec.f2p_pass_rate_threshold
    if rate > threshold:
        raise Dropped(
            "f2p",
            f"{len(passing)} of {len(tests)} tests still pass after masking"
            f" ({rate:.0%} > f2p_pass_rate_threshold {threshold:.0%})",
        )
    broken = [t for t in others if outcomes.get(t) != "passed"]
    return failing, passing, round(rate, 4), broken


def _pass_to_pass(
    runner: Runner, tree: Path, files: list[str], expected: dict[str, list[str]], round_: int
) -> tuple[list[str], list[str]]:
    """Files still failing after a rerun, and files that passed on the rerun (flaky)."""
    if not files:
        return [], []
    failing = _failing_files(
        runner.pytest(tree, files, "p2p_validate", f"run{round_}"), files, expected
    )
    if not failing:
        return [], []
    again = runner.pytest(tree, failing, "p2p_validate", f"rerun{round_}", rerun=1)
    broken = _failing_files(again, failing, expected)
    return broken, [path for path in failing if path not in broken]


def _failing_files(run: PytestRun, files: list[str], expected: dict[str, list[str]]) -> list[str]:
    outcomes = run.outcomes()
    return [p for p in files if any(outcomes.get(t) != "passed" for t in expected[p])]


def _keep_back(
    runner: Runner,
    work: MaskedTree,
    classification: Classification,
    check: tuple[list[str], Callable[[PytestRun], bool]],
    round_: int,
) -> str | None:
    """Find the removed object that the tests run on ``check[0]`` need (``check[1]``
    tells whether they still fail), and only empty it when that is enough, else keep it.

    None when the tests fail with nothing removed: they depend on where the work
    tree is (a path in a test), not on the mask. The note says what was done.
    """
    targets, still = check
    probes = iter(range(1000))
    emptied = set(classification.stubs)

    def breaks(subset: list[Target], empty: tuple[Target, ...] = ()) -> bool:
        removed = [t for t in subset if t not in emptied and t not in empty]
        work.put(removed, [t for t in subset if t in emptied or t in empty])
        step = f"bisect{round_}.{next(probes)}"
        return still(runner.pytest(work.tree, targets, "p2p_validate", step))

    if breaks([]):
        return None
    culprit = find_culprit([*classification.targets, *classification.stubs], breaks)
    who = ", ".join(targets)
    if culprit is not None and culprit not in emptied and not _breaks_emptied(breaks, culprit):
        classification.empty(culprit)  # referred to, not run: it stays as a stub
        return f"emptied {culprit.path}::{culprit.qualname} instead of removing it"
    if culprit is None or classification.features == [culprit]:
        what = "no single removed object" if culprit is None else "the only top object"
        raise Dropped("p2p", f"{who} fail after masking and need {what}")
    classification.keep(culprit, f"needed by {who}")
    return f"kept {culprit.path}::{culprit.qualname}"


def _breaks_emptied(breaks: Callable[..., bool], culprit: Target) -> bool:
    """Whether the tests fail with ``culprit`` emptied: True when it cannot be emptied."""
    try:
        return breaks([culprit], (culprit,))
    except MaskError:  # a class, or a function with no body to take out
        return True


def find_culprit(targets: list[Target], breaks: Callable[[list[Target]], bool]) -> Target | None:
    """A removed object whose removal alone breaks the tests, by halving the set."""
    candidates = list(targets)
    while len(candidates) > 1:
        half = len(candidates) // 2
        if breaks(candidates[:half]):
            candidates = candidates[:half]
        elif breaks(candidates[half:]):
            candidates = candidates[half:]
        else:  # only a combination breaks them: keep the first object that helps
            return next(
                (t for t in candidates if not breaks([c for c in candidates if c != t])), None
            )
    if candidates and breaks(candidates):
        return candidates[0]
    return None
