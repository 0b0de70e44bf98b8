"""The grades an interrupted ``fbench eval`` had made, kept for ``--resume``.

Each case's result is written beside its logs as soon as it is graded, under
the fingerprint of what the grade depends on: the case, the patch, the patch
fallbacks, the backend and the sandbox. ``--resume`` reuses a result only
when that fingerprint still matches, so a changed patch or case is graded
again.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from orchestrator.grading.eval_inputs import Case
from orchestrator.grading.eval_report import InstanceResult
from orchestrator.pipeline.storage import fingerprint, read_json, write_json

if TYPE_CHECKING:
    from orchestrator.grading.evaluate import EvalOptions

_NAME = "result.json"


def grade_key(case: Case, patch: str, options: EvalOptions) -> str:
    """What a case's grade depends on."""
    settings = (options.patch_fuzz, options.backend, options.sandbox)
    return fingerprint("eval", case.instance, patch, settings)


def kept(logs: Path, key: str) -> InstanceResult | None:
    """The result graded earlier under ``key`` in ``logs`` (a case's log folder), if any."""
    try:
        stored = read_json(logs / _NAME)
    except (OSError, msgspec.DecodeError):
        return None  # none yet, or cut short by a kill (never half-written, but be safe)
    if not isinstance(stored, dict) or stored.pop("key", None) != key:
        return None
    suspicious = bool(stored.pop("suspicious", False))
    try:
        result = InstanceResult(**stored)
    except TypeError:  # written by another version
        return None
    result.suspicious = suspicious
    return result


def keep(logs: Path, key: str, result: InstanceResult) -> None:
    write_json(logs / _NAME, {**dataclasses.asdict(result), "key": key})


def resume_command(options: EvalOptions) -> str:
    """The ``fbench eval`` command line that continues the run of ``options``."""
    argv = ["fbench", "eval", "--cases", str(options.cases), "--predictions", options.predictions]
    argv += ["--jobs", str(options.jobs), "--report", str(options.report)]
    if options.cache_dir is not None:
        argv += ["--cache-dir", str(options.cache_dir)]
    if options.backend is not None:
        argv += ["--backend", options.backend]
    flags = {"--patch-fuzz": options.patch_fuzz, "--no-sandbox": not options.sandbox}
    argv += [flag for flag, wanted in flags.items() if wanted]
    return shlex.join([*argv, "--resume"])
