"""``pipeline_report.md`` at a run's root: what a build-cases run produced, and where it lost.

Written at the end of every ``build-cases`` run and rebuilt by ``fbench
report RUN_DIR``, from the run's files alone: ``metadata_outputs/summary.json``
(stage timings), ``files_status.json`` and ``data_status.json`` (the funnel
and why each candidate was dropped) and the cases' ``instance.json``. Its
numbers are the status files' numbers; the plots and the data behind them go
to ``pipeline_report/``.

The funnel, per spec: test files, fail-to-pass candidates, traced (through
the runner and dynamic), masked (reached the data stage and masked), validated
(every check passed) and exported (files with at least one case written).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.pipeline import addopts
from orchestrator.pipeline.storage import is_run_dir, write_atomic, write_json
from orchestrator.pipeline.summary import llm_line
from orchestrator.report.plots import write_plots
from orchestrator.stages import STAGE_NAMES

REPORT = "pipeline_report.md"
ASSETS = "pipeline_report"
FUNNEL = ("test files", "F2P candidates", "traced", "masked", "validated", "exported")
_BEFORE_TRACING = frozenset(("runner", "dynamic"))
_MASKING = frozenset(("classify", "mask"))


def write_pipeline_report(run: Path) -> Path:
    """Write ``run/pipeline_report.md`` and its plots; returns the report's path."""
    if not is_run_dir(run):
        raise UsageError(
            f"{run}: not a run directory of build-cases"
            " (expected cases/, metadata_outputs/, logs/ and debug_outputs/ in it)"
        )
    data = report_data(run)
    plots = write_plots(run / ASSETS, data)
    write_json(run / ASSETS / "report.json", data)
    write_atomic(run / REPORT, markdown(data, plots).encode())
    return run / REPORT


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return found


def report_data(run: Path) -> dict[str, Any]:
    """Everything the report shows, as plain data."""
    metadata = run / "metadata_outputs"
    summary = _read(metadata / "summary.json")
    files_status = _read(metadata / "files_status.json")
    data_status = _read(metadata / "data_status.json")
    cases = _cases(run)
    specs = sorted({*files_status, *data_status, *summary.get("specs", {})})
    return {
        "run": str(run),
        "errors": summary.get("errors", []),
        "warnings": summary.get("warnings", []),
        "llm": summary.get("llm"),
        "stages": _in_pipeline_order(summary.get("stages", {})),
        "specs": {
            name: _spec_data(
                files_status.get(name, {}),
                data_status.get(name),
                summary.get("specs", {}).get(name, {}),
                cases,
            )
            for name in specs
        },
    }


def _in_pipeline_order(stages: dict[str, Any]) -> dict[str, Any]:
    # summary.json sorts its keys; the report lists stages in the order they run.
    order = {name: index for index, name in enumerate(STAGE_NAMES)}
    return {name: stages[name] for name in sorted(stages, key=lambda n: order.get(n, len(order)))}


def _cases(run: Path) -> dict[str, dict[str, Any]]:
    """``{repo folder}/{case}`` (as data_status.json names it) -> what the report shows."""
    found = {}
    for path in sorted(run.glob("cases/*/*/instance.json")):
        info = json.loads(path.read_text(encoding="utf-8"))
        found[f"{path.parent.parent.name}/{path.parent.name}"] = {
            "instance_id": info["instance_id"],
            "level": info["level"],
            "lines": info["lines"],
            "f2p": len(info["FAIL_TO_PASS"]),
            "p2p": len(info["PASS_TO_PASS"]),
            "top_objects": len(info["top_objects"]),
        }
    return found


def _spec_data(
    files_status: dict[str, Any],
    data_status: dict[str, Any] | None,
    summary: dict[str, Any],
    cases: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    files = files_status.get("files", {})
    status_files = (data_status or {}).get("files", {})
    dropped = {p: f for p, f in status_files.items() if f.get("status") == "dropped"}
    names = [n for f in status_files.values() for n in f.get("cases", [])]
    return {
        "stopped": summary.get("stopped"),
        "collect_errors": files_status.get("collect_errors", {}),
        "addopts": files_status.get("addopts"),
        "funnel": _funnel(files, data_status, dropped),
        "cases_written": (data_status or {}).get("cases"),
        "drops_by_stage": dict(Counter(str(f.get("stage")) for f in dropped.values())),
        "dropped": {
            p: {"stage": f.get("stage"), "reason": f.get("reason")} for p, f in dropped.items()
        },
        "cases": {name: cases[name] for name in sorted(names) if name in cases},
        "llm_fallbacks": {  # valid after the model's choice failed: the note says both
            path: f["notes"][0]
            for path, f in status_files.items()
            if f.get("status") == "valid" and f.get("attempts")
        },
    }


def _funnel(
    files: dict[str, Any], data_status: dict[str, Any] | None, dropped: dict[str, Any]
) -> dict[str, int | None]:
    """The counts of each step; None where the run did not get that far."""
    candidates = sum(1 for f in files.values() if f.get("f2p_candidate"))
    funnel: dict[str, int | None] = dict.fromkeys(FUNNEL)
    funnel["test files"] = len(files)
    funnel["F2P candidates"] = candidates
    if data_status is None:
        return funnel
    stages = [f.get("stage") for f in dropped.values()]
    funnel["F2P candidates"] = data_status["f2p_candidates"]
    funnel["traced"] = data_status["f2p_candidates"] - sum(s in _BEFORE_TRACING for s in stages)
    funnel["masked"] = data_status["data_items"] - sum(s in _MASKING for s in stages)
    funnel["validated"] = sum(
        1 for f in data_status["files"].values() if f.get("status") in ("valid", "not written")
    )
    funnel["exported"] = data_status["valid_files"]
    return funnel


def markdown(data: dict[str, Any], plots: dict[str, str]) -> str:
    lines = ["# Pipeline report", "", f"Run: `{data['run']}`", ""]
    lines += _problems(data)
    lines += ["## Stage timings", ""]
    lines += _stage_table(data["stages"])
    lines += ["", "## Yield funnel", ""]
    lines += ["| spec | " + " | ".join(FUNNEL) + " | cases |", "|---" * (len(FUNNEL) + 2) + "|"]
    for name, spec in data["specs"].items():
        counts = [_count(spec["funnel"][step]) for step in FUNNEL]
        lines.append(f"| {name} | {' | '.join(counts)} | {_count(spec['cases_written'])} |")
    for name, spec in data["specs"].items():
        if spec["drops_by_stage"]:
            drops = ", ".join(f"{stage} {n}" for stage, n in sorted(spec["drops_by_stage"].items()))
            lines += ["", f"{name} dropped candidates by stage: {drops}."]
    for name, spec in data["specs"].items():
        lines += ["", f"## {name}", ""]
        if spec["stopped"]:
            lines += [f"Stopped at {spec['stopped']}.", ""]
        if spec["addopts"]:
            lines += [f"pytest configuration: {addopts.describe(spec['addopts'])}.", ""]
        lines += _spec_tables(spec)
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{title}]({path})" for title, path in plots.items()]
    return "\n".join(lines) + "\n"


def _problems(data: dict[str, Any]) -> list[str]:
    """The run's service errors and warnings, first: a run that exited non-zero says why."""
    llm = data.get("llm") or {}
    lines = [f"{llm_line(llm)}.", ""] if llm else []  # "llm (model): N requests ..."
    if llm.get("down"):
        lines += [f"**LLM endpoint down: {llm['down']}.**", ""]
    errors = [e for e in data.get("errors", []) if e != llm.get("down")]
    if not (errors or data.get("warnings")):
        return lines
    lines += ["## Errors and warnings", ""]
    lines += [f"- error: {_cell(e)}" for e in errors]
    lines += [f"- warning: {_cell(w)}" for w in data.get("warnings", [])]
    return [*lines, ""]


def _stage_table(stages: dict[str, Any]) -> list[str]:
    lines = [
        "| stage | items | cached | ok | failed | errors | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in stages.items():
        lines.append(
            f"| {name} | {s['items']} | {s['cached']} | {s['ok']} | {s['failed']}"
            f" | {s['errors']} | {s['seconds']:.1f} |"
        )
    total = sum(s["seconds"] for s in stages.values())
    lines.append(f"| total | | | | | | {total:.1f} |")
    return lines


def _spec_tables(spec: dict[str, Any]) -> list[str]:
    lines = ["| case | level | lines removed | F2P tests | P2P tests | top objects |"]
    lines.append("|---|---|---|---|---|---|")
    for name, case in spec["cases"].items():
        lines.append(
            f"| `{name}` | {case['level']} | {case['lines']} | {case['f2p']} | {case['p2p']}"
            f" | {case['top_objects']} |"
        )
    if not spec["cases"]:
        lines.append("| (no cases) | | | | | |")
    if spec["dropped"]:
        lines += ["", "| dropped candidate | stage | reason |", "|---|---|---|"]
        for path, why in spec["dropped"].items():
            lines.append(f"| `{path}` | {why['stage']} | {_cell(why['reason'])} |")
    if spec.get("llm_fallbacks"):
        lines += ["", "| valid after the model's choice failed | first attempt |", "|---|---|"]
        for path, note in spec["llm_fallbacks"].items():
            lines.append(f"| `{path}` | {_cell(note)} |")
    if spec["collect_errors"]:
        lines += ["", "| test file that does not collect | error |", "|---|---|"]
        for path, message in spec["collect_errors"].items():
            lines.append(f"| `{path}` | {_cell(message)} |")
    return lines


def _cell(text: object) -> str:
    """Text on one line of a Markdown table."""
    return " ".join(str(text).replace("|", "\\|").split())


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)
