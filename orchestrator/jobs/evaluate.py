"""The hooks after a build: grade cases, sum up pairs' quality, export by exporter type."""

from __future__ import annotations

import logging
from statistics import fmean
from typing import Any

import msgspec

from orchestrator.jobs.hooks import JobContext
from orchestrator.pipeline.registry import registry
from orchestrator.pipeline.storage import read_json

log = logging.getLogger("fbench")


class EvaluateArgs(msgspec.Struct, forbid_unknown_fields=True):
    cases: str  # a build-cases run directory, e.g. ${build.run_dir}
    predictions: list[str] = msgspec.field(default_factory=lambda: ["gold", "empty"])
    patch_fuzz: bool = False


class EvaluateCases:
    """``fbench eval`` for gold, empty and any predictions file: resolved and pass rates."""

    Args = EvaluateArgs
    outputs = ("report_dir", "models")

    def run(self, args: EvaluateArgs, ctx: JobContext) -> dict[str, Any]:
        from orchestrator.grading.evaluate import EvalOptions, evaluate

        models: dict[str, dict[str, float]] = {}
        for predictions in args.predictions:
            source = predictions if predictions in ("gold", "empty") else str(ctx.path(predictions))
            options = EvalOptions(
                cases=ctx.path(args.cases),
                predictions=source,
                jobs=ctx.defaults.jobs,
                backend=None if ctx.defaults.backend == "local" else ctx.defaults.backend,
                report=ctx.folder / "evaluations",
                cache_dir=ctx.defaults.cache_dir,
                force=True,  # a job run again after a kill replaces its own reports
                patch_fuzz=args.patch_fuzz,
                sandbox=not ctx.defaults.no_sandbox,
                executor=ctx.defaults.executor,
                ray_address=ctx.defaults.ray_address,
            )
            for report in evaluate(options, _progress):
                models[report.parent.name] = _rates(read_json(report))
        return {"report_dir": str(ctx.folder / "evaluations"), "models": models}


def _progress(model: str, done: int, total: int) -> None:
    log.info("evaluate %s: %d of %d", model, done, total)


def _rates(report: dict[str, Any]) -> dict[str, float]:
    keys = ("resolved_rate", "pass_rate", "resolved_instances", "total_instances")
    return {key: report[key] for key in keys}


class PairsReportArgs(msgspec.Struct, forbid_unknown_fields=True):
    run: str  # a build-pairs run directory, e.g. ${pairs.run_dir}


class EvaluatePairs:
    """A build-pairs run's quality figures: the funnel and each check's mean."""

    Args = PairsReportArgs
    outputs = ("funnel", "quality")

    def run(self, args: PairsReportArgs, ctx: JobContext) -> dict[str, Any]:
        report = read_json(ctx.path(args.run) / "metadata_outputs" / "pairs_report.json")
        quality = {name: fmean(values) for name, values in report["metrics"].items() if values}
        return {"funnel": report["funnel"], "quality": quality}


class ExportArgs(msgspec.Struct, forbid_unknown_fields=True):
    cases: str
    format: str  # an exporters type: swebench-jsonl, hf-dataset, parquet, swebench-task-repo
    out: str | None = None  # default: in the job's folder
    p2p: str = "same-file"

    def __post_init__(self) -> None:
        known = registry("exporters").types()
        if self.format not in known:
            raise ValueError(f"unknown exporter {self.format!r}; known: {', '.join(known)}")


class Export:
    """An exporter by ``type`` over a run's cases."""

    Args = ExportArgs
    outputs = ("out", "rows")

    def run(self, args: ExportArgs, ctx: JobContext) -> dict[str, Any]:
        from orchestrator.grading.exports import export_cases

        default = "cases.jsonl" if args.format == "swebench-jsonl" else args.format
        out = ctx.path(args.out) if args.out else ctx.folder / default
        rows = export_cases(ctx.path(args.cases), args.format, out, args.p2p)
        return {"out": str(out), "rows": rows}
