"""Stage scanner: collect the tests through the plugin and pick the candidates.

Collection is cached (it depends on the environment and the scanner command).
Picking candidates is cheap and redone every run from the spec's filters:
fail-to-pass candidates have at least ``min_test_num`` tests and a last commit
on or after ``start_time``, at most ``max_f2p_num``, newest first; pass-to-pass
candidates are every test file, at most ``max_p2p_num``, drawn with ``--seed``.
The result goes to ``metadata_outputs/files_status.json``.
A collection where no test file can import the project's own package is the
environment's failure (:mod:`orchestrator.pipeline.own_imports`): an error,
never stored, so a rerun collects again.

A library module collected only for its doctests (``--doctest-modules``) is
not a test file: it is never a fail-to-pass candidate, so no case takes it out
as its test file. It is a pass-to-pass candidate: its doctest items that still
pass with the feature removed join PASS_TO_PASS, graded where they live, and
eval never restores the module over an agent's edits: one rule,
:func:`orchestrator.pipeline.doctests.doctest_modules`, decides it for both.

When pytest refuses the project's ``addopts`` for plugins the environment lacks
(``-p NAME``) or their options, the collection runs again without them
(:mod:`orchestrator.pipeline.addopts`), and from then on the spec's commands
carry the repair; ``files_status.json``, the summary and the report say so, and
name the refused collections' logs, kept as ``<spec>.refused1.log`` and so on.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import Counter
from collections.abc import Set as AbstractSet
from pathlib import Path

import msgspec

from orchestrator.pipeline import addopts
from orchestrator.pipeline.doctests import doctest_modules
from orchestrator.pipeline.engine import Outcome, RunContext, SpecState, WorkItem
from orchestrator.pipeline.own_imports import unimportable_library
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest, seconds
from orchestrator.pipeline.repos import Checkout, last_commit_dates
from orchestrator.pipeline.specs import Spec
from orchestrator.pipeline.status import update_files_status


class ScannerStage:
    name = "scanner"
    version = 4  # 2: files are the modules tests run in (nodeids); 3: doctest modules apart;
    # 4: a module docstring's doctest (``pkg/__init__.py::pkg``) is one too
    depends_on: tuple[str, ...] = ("image",)
    cache_key: str | None = "scan_cache"

    def items(self, ctx: RunContext, state: SpecState) -> list[WorkItem]:
        spec = state.spec.settings
        inputs = {
            "test_scanner_cmd": spec.test_scanner_cmd,
            "timeout_scanner": spec.timeout_scanner,
        }
        return [WorkItem("collection", inputs)]

    def run(self, ctx: RunContext, state: SpecState, item: WorkItem) -> Outcome:
        command = list(state.spec.settings.test_scanner_cmd)
        run, fixed = self._collect_repaired(ctx, state, command)
        if not run.complete:
            return Outcome("error", f"collection {run.why_incomplete()}")
        # The nodeid names the module a test runs in; an inherited test method
        # is *defined* elsewhere (item.file), often a shared base in tests/__init__.py.
        counts = Counter(item.nodeid.split("::")[0] for item in run.collected())
        errors = {error.file: error.message for error in run.collect_errors()}
        library = sorted(doctest_modules([item.nodeid for item in run.collected()]))
        repo = state.values["checkout"].path
        broken = unimportable_library(set(counts) - set(library), errors, repo)
        if broken is not None:  # the environment's failure, not the tests': never stored
            return Outcome("error", broken)
        data = {"tests": dict(sorted(counts.items())), "collect_errors": errors}
        if fixed is not None:  # only then: a spec without the repair keeps its outcome
            data["addopts"] = msgspec.to_builtins(fixed)
        return Outcome("ok", data={**data, "doctest_modules": library})

    def _collect_repaired(
        self, ctx: RunContext, state: SpecState, command: list[str]
    ) -> tuple[PytestRun, addopts.AddoptsRepair | None]:
        """The collection, run again with ``addopts`` repaired while pytest refuses them;
        each refused collection's log is kept beside the last one's (:func:`refused_log`)."""
        repo = state.values["checkout"].path
        for attempt in range(addopts.MAX_REPAIRS):  # an earlier run's, in a --logs-dir kept
            refused_log(self._log(ctx, state), attempt).unlink(missing_ok=True)
        run, fixed = self._collect(ctx, state, command), None
        for attempt in range(addopts.MAX_REPAIRS):
            if run.complete:
                break
            again = addopts.repair(run.result.output, run.result.returncode, repo, fixed)
            if again is None:
                break
            log = self._log(ctx, state)
            if log.exists():
                log.replace(refused_log(log, attempt))
            run, fixed = self._collect(ctx, state, [*command, *again.args]), again
        return run, fixed

    def _log(self, ctx: RunContext, state: SpecState) -> Path:
        return ctx.logs_dir / "test_scanner" / f"{state.name}.log"

    def _collect(self, ctx: RunContext, state: SpecState, command: list[str]) -> PytestRun:
        return run_pytest(
            state.values["environment"],
            command,
            repo=state.values["checkout"].path,
            warm=True,  # forked from a warm worker where the sandbox allows
            records=ctx.logs_dir / "test_scanner" / f"{state.name}.jsonl",
            timeout=seconds(state.spec.settings.timeout_scanner),
            log=self._log(ctx, state),
        )

    def apply(self, ctx: RunContext, state: SpecState, outcomes: dict[str, Outcome]) -> None:
        (outcome,) = outcomes.values()
        if outcome.status != "ok":
            state.stopped = f"scanner: {outcome.reason}"
            return
        checkout: Checkout = state.values["checkout"]
        fixed = outcome.data.get("addopts")
        if fixed is not None:
            state.spec = with_repair(state.spec, msgspec.convert(fixed, addopts.AddoptsRepair))
        tests: dict[str, int] = outcome.data["tests"]
        dates = last_commit_dates(checkout.path, list(tests))
        library = set(outcome.data.get("doctest_modules", []))
        f2p, p2p = pick_candidates(state, tests, dates, ctx.seed, ctx.debug_samples, library)
        state.values.update(f2p=f2p, p2p=p2p, doctest_modules=sorted(library))
        files = {
            path: {
                "tests": count,
                "last_commit": _iso(dates.get(path)),
                "f2p_candidate": path in f2p,
                "p2p_candidate": path in p2p,
                **({"doctest_module": True} if path in library else {}),
            }
            for path, count in tests.items()
        }
        if fixed is not None:  # the refused collections' logs, when this run wrote them
            refused = [refused_log(self._log(ctx, state), n) for n in range(addopts.MAX_REPAIRS)]
            # The run root may be relative (runs/...), the logs dir is resolved; may be outside.
            logs = [relative(p, ctx.root) for p in refused if p.exists()]
            fixed = {**fixed, **({"refused_logs": logs} if logs else {})}
        update_files_status(ctx.metadata, state.name, files, outcome.data["collect_errors"], fixed)


def relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root.resolve())).as_posix()


def refused_log(log: Path, attempt: int) -> Path:
    """Where the log of the ``attempt``-th refused collection is kept: ``<spec>.refused1.log``."""
    return log.with_suffix(f".refused{attempt + 1}.log")


def with_repair(spec: Spec, fixed: addopts.AddoptsRepair) -> Spec:
    """The spec whose pytest commands run with the repaired ``addopts``."""
    settings = msgspec.structs.replace(
        spec.settings,
        test_scanner_cmd=[*spec.settings.test_scanner_cmd, *fixed.args],
        test_cmd=[*spec.settings.test_cmd, *fixed.args],
    )
    return Spec(spec.name, settings)


def pick_candidates(
    state: SpecState,
    tests: dict[str, int],
    dates: dict[str, int],
    seed: int,
    samples: tuple[str, ...],
    library: AbstractSet[str] = frozenset(),
) -> tuple[list[str], list[str]]:
    """F2P candidates among the test files; P2P ones among them and the doctest modules."""
    spec = state.spec.settings
    files = [path for path in tests if not samples or Path(path).stem in samples]
    since = (
        dt.datetime.fromisoformat(spec.start_time).replace(tzinfo=dt.UTC).timestamp()
        if spec.start_time
        else None
    )
    f2p = [
        path
        for path in files
        if path not in library
        and tests[path] >= spec.min_test_num
        and (since is None or dates.get(path, 0) >= since)
    ]
    f2p.sort(key=lambda path: (-dates.get(path, 0), path))
    if spec.max_f2p_num != -1:
        f2p = f2p[: spec.max_f2p_num]
    p2p = sorted(files)
    if spec.max_p2p_num != -1 and len(p2p) > spec.max_p2p_num:
        keep = set(f2p)
        others = [path for path in p2p if path not in keep]
        drawn = random.Random(f"{seed}:{state.name}").sample(others, spec.max_p2p_num - len(keep))
        p2p = sorted(keep | set(drawn))
    return f2p, p2p


def _iso(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
