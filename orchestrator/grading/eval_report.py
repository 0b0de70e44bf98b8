"""The report of ``fbench eval``: ``report.json`` and ``report.md`` per model.

Rates are taken over every case of the run: a case without a prediction is
not resolved and passes none of its fail-to-pass tests. The resolved rate and
the pass rate (fail-to-pass tests passed over fail-to-pass tests, summed over
the cases) are reported apart.

``report.json`` also carries the keys of SWE-bench's run report (schema 2)
with SWE-bench's meanings, so that its readers take ours: an empty patch is
in ``empty_patch_ids`` and not in ``completed_ids``, a patch that does not
apply or a session that crashed is in ``error_ids``, a case without a
prediction is in ``incomplete_ids``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orchestrator.errors import UsageError
from orchestrator.pipeline.storage import write_atomic, write_json

if TYPE_CHECKING:
    from orchestrator.grading.eval_inputs import Case

Status = Literal["resolved", "unresolved", "patch failed", "error"]
STATUSES: tuple[Status, ...] = ("resolved", "unresolved", "patch failed", "error")
SWEBENCH_SCHEMA_VERSION = 2  # the schema of SWE-bench 5's run report that ours follows
GRADING_RULE = (
    "Resolved means every F2P and P2P test passed and pytest exited 0:"
    " a skipped or missing test counts as failed."
)


@dataclass
class InstanceResult:
    instance_id: str
    status: Status
    reason: str
    f2p_passed: int = 0
    f2p_total: int = 0
    p2p_passed: int = 0
    p2p_total: int = 0
    exit_code: int | None = None
    seconds: float = 0.0
    # Non-test code reached for pytest or the interpreter's hooks; set after grading.
    suspicious: bool = field(default=False, init=False)

    @property
    def pass_rate(self) -> float:
        return self.f2p_passed / self.f2p_total if self.f2p_total else 0.0


def summarize(
    model: str,
    cases: dict[str, Case],
    results: list[InstanceResult],
    unknown: list[str],
    missing_reasons: dict[str, str],
    patches: Mapping[str, str],
) -> dict[str, Any]:
    """The report's data: totals, rates, and every instance's status and reason."""
    graded = {r.instance_id: r for r in results}
    f2p_total = sum(len(c.instance["FAIL_TO_PASS"]) for c in cases.values())
    f2p_passed = sum(r.f2p_passed for r in results)
    counts = Counter(r.status for r in results)
    resolved = counts["resolved"]
    missing = sorted(set(cases) - set(graded))
    return {
        "model": model,
        "total_instances": len(cases),
        "submitted_instances": len(results),
        "resolved_instances": resolved,
        "resolved_rate": round(resolved / len(cases), 4) if cases else 0.0,
        "f2p_passed": f2p_passed,
        "f2p_total": f2p_total,
        "pass_rate": round(f2p_passed / f2p_total, 4) if f2p_total else 0.0,
        "counts": {status: counts[status] for status in STATUSES},
        "unknown_instance_ids": sorted(unknown),
        "suspicious": sorted(r.instance_id for r in results if r.suspicious),
        "grading": GRADING_RULE,
        "missing": {iid: missing_reasons.get(iid, "no prediction") for iid in missing},
        "instances": {
            iid: {**asdict(graded[iid]), "pass_rate": round(graded[iid].pass_rate, 4)}
            for iid in sorted(graded)
        },
        **swebench_keys(cases, results, patches),
    }


def swebench_keys(
    cases: dict[str, Case], results: list[InstanceResult], patches: Mapping[str, str]
) -> dict[str, Any]:
    """SWE-bench's id lists and counts, as its ``make_run_report`` draws them."""
    ran = [r for r in results if patches.get(r.instance_id, "").strip()]
    ids = {
        "completed_ids": [r.instance_id for r in ran if r.status in ("resolved", "unresolved")],
        "incomplete_ids": [iid for iid in cases if iid not in patches],
        "empty_patch_ids": [r.instance_id for r in results if r not in ran],
        "submitted_ids": [r.instance_id for r in results],
        "resolved_ids": [r.instance_id for r in ran if r.status == "resolved"],
        "unresolved_ids": [r.instance_id for r in ran if r.status == "unresolved"],
        "error_ids": [r.instance_id for r in ran if r.status in ("patch failed", "error")],
    }
    counts = {
        f"{name.removesuffix('_ids')}_instances": len(found)
        for name, found in ids.items()
        if name not in ("incomplete_ids", "submitted_ids", "resolved_ids")
    }
    return {
        **counts,
        **{name: sorted(found) for name, found in ids.items()},
        "schema_version": SWEBENCH_SCHEMA_VERSION,
    }


def refuse_overwrite(folder: Path, model: str) -> None:
    """A model's earlier evaluation stays unless ``--force`` says to replace it."""
    if (folder / "report.json").exists():
        raise UsageError(
            f"{folder / 'report.json'}: {model} was already evaluated there;"
            " pass --force to replace it, or give another --report directory"
        )


def write_model_report(
    folder: Path,
    *,
    model: str,
    source: str,
    cases: dict[str, Case],
    results: list[InstanceResult],
    unknown: list[str],
    missing_reasons: dict[str, str],
    patches: Mapping[str, str],
) -> Path:
    """``folder/report.json`` and ``folder/report.md``; returns the JSON's path."""
    data = summarize(model, cases, results, unknown, missing_reasons, patches)
    data["predictions"] = source
    data["created"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    write_json(folder / "report.json", data)
    write_atomic(folder / "report.md", markdown(data).encode())
    return folder / "report.json"


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Evaluation of `{data['model']}`",
        "",
        f"Predictions: `{data['predictions']}`, graded {data['created']}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| resolved rate | {data['resolved_instances']} of {data['total_instances']}"
        f" ({data['resolved_rate']:.1%}) |",
        f"| pass rate (F2P tests) | {data['f2p_passed']} of {data['f2p_total']}"
        f" ({data['pass_rate']:.1%}) |",
        f"| submitted | {data['submitted_instances']} |",
        *(f"| {status} | {count} |" for status, count in data["counts"].items()),
        "",
        GRADING_RULE,
        "",
        "## Instances",
        "",
        "| instance | status | F2P passed | P2P passed | reason |",
        "|---|---|---|---|---|",
    ]
    for iid, row in data["instances"].items():
        lines.append(
            f"| `{iid}` | {row['status']} | {row['f2p_passed']}/{row['f2p_total']}"
            f" | {row['p2p_passed']}/{row['p2p_total']} | {_cell(row['reason'])} |"
        )
    if data["suspicious"]:
        lines += ["", "## Suspicious patches (graded unresolved, not run)", ""]
        lines += [f"- `{iid}`: {data['instances'][iid]['reason']}" for iid in data["suspicious"]]
    if data["missing"]:
        lines += ["", "## Cases without a prediction", ""]
        lines += [f"- `{iid}`: {why}" for iid, why in data["missing"].items()]
    if data["unknown_instance_ids"]:
        lines += ["", "## Unknown instance ids (no such case in the run)", ""]
        lines += [f"- `{iid}`" for iid in data["unknown_instance_ids"]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """One table cell: no pipes or newlines, and not too long to read."""
    flat = " ".join(text.replace("|", "\\|").split())
    return flat if len(flat) <= 200 else flat[:197] + "..."
