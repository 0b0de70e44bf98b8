"""Statement-faithful gold: a case must be solvable from its statement alone.

The gold check restores everything masking removed, so it cannot tell whether
the statement says enough. This check builds the patch a careful agent could
write from the statement: the original definition of each listed interface
(the top objects and the helpers only they use), in its listed file, and the
imports and ``__all__`` entries the statement quotes, and nothing else (see
:mod:`orchestrator.extract.fairness` for what is listed and why). The patch and
``test_patch.diff`` are applied with ``git apply`` to the case repository and
every fail-to-pass and pass-to-pass test must pass (logs under
``logs/f2p_validate/``, step ``faithful``); otherwise the candidate is dropped
with the first failing test and the first change masking made that the
statement does not list.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from orchestrator.extract.agent_views import interface_stub
from orchestrator.extract.cases import diff_files
from orchestrator.extract.fairness import (
    Listing,
    exercised_doc,
    faithful_files,
    statement_listing,
    stub_notes,
)
from orchestrator.extract.masking import Target
from orchestrator.extract.members import Members
from orchestrator.pipeline.traces import FileTrace
from orchestrator.stages.data_checks import Dropped, Runner, Verdict


@dataclass
class Fairness:
    """What the statement lists, ready to be written into its interface stubs."""

    listing: Listing
    files: dict[str, str]
    features: list[Target]

    def stubs(self, given: list[str]) -> list[str]:
        """The top objects' stubs (``given``, one per feature) and the helpers', each with
        its stand-in docstring when it has none and its notes."""
        stubs = [self._stub(t, s) for t, s in zip(self.features, given, strict=True)]
        return stubs + [self._stub(h, None) for h in self.listing.helpers]

    def _stub(self, target: Target, given: str | None) -> str:
        source, where = self.files[target.path], (target.qualname, target.path)
        members = self.listing.members.get(target, Members()).private
        offline = interface_stub(source, *where, members=members)
        tests = self.listing.exercised.get(target)
        if tests and given in (None, offline):  # not an LLM's docstring: the test names
            doc = exercised_doc(self.listing, target)
            given = interface_stub(source, *where, doc, members)
        return "\n".join([given or offline, *stub_notes(self.listing, target)])


def check_statement_faithful(
    runner: Runner,
    scratch: Path,
    repo: Path,
    files: dict[str, str],
    verdict: Verdict,
    trace: FileTrace | None,
) -> Fairness:
    """Grade the statement-faithful patch on the case repository; raises Dropped."""
    classification = verdict.classification
    f2p = set(verdict.fail_to_pass)
    tests = {n: t for n, t in (trace.tests if trace else {}).items() if n in f2p}
    helpers = classification.helpers
    listing = statement_listing(
        files, verdict.masked, classification.features, helpers, runner.file, tests
    )
    masked = {p: t for p, t in verdict.masked.files.items() if p != runner.file}
    rebuilt, unlisted = faithful_files(files, masked, listing.covered)
    patch = diff_files({p: (masked[p], rebuilt[p]) for p in rebuilt if rebuilt[p] != masked[p]})
    failed = _failing_with(runner, scratch, repo, patch, files, verdict)
    if failed:
        why = f"; the statement does not list {unlisted[0]}" if unlisted else ""
        raise Dropped(
            "fairness",
            f"{len(failed)} tests fail with only what the statement lists restored:"
            f" {failed[0]}{why}",
        )
    return Fairness(listing, files, classification.features)


def _failing_with(
    runner: Runner, scratch: Path, repo: Path, patch: str, files: dict[str, str], verdict: Verdict
) -> list[str]:
    """The F2P and P2P tests that fail in a copy of the case repository with ``patch`` and
    the test file applied by ``git apply``."""
    test_patch = diff_files({runner.file: (None, files[runner.file])})
    patches = {"faithful.diff": patch, "faithful_test_patch.diff": test_patch}
    tree = scratch / "faithful"
    shutil.copytree(repo, tree, symlinks=True)
    for name, text in patches.items():
        (scratch / name).write_text(text, encoding="utf-8")
        runner.apply(tree, scratch / name, "f2p_validate", "fairness")
    run = runner.pytest(tree, [runner.file, *verdict.p2p_files], "f2p_validate", "faithful")
    outcomes = run.outcomes()
    wanted = [*verdict.fail_to_pass, *verdict.pass_to_pass]
    return [t for t in wanted if outcomes.get(t) != "passed"]
