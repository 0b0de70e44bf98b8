"""What ``fbench eval`` grades: the cases of a run and the predictions, read and checked.

Predictions are SWE-bench's JSONL (``instance_id``, ``model_name_or_path``,
``model_patch``), or one of two self-checks built from the cases:

- ``gold``: each level 1 case's ``patch.diff``. A level 2 case has no patch of
  its own; its gold is its level 1 sibling's ``patch.diff`` (the original code
  back) plus an ``agent_code/__init__.py`` that re-exports the top objects,
  which is what the data stage proved its rewritten tests pass against;
- ``empty``: an empty patch for every case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from orchestrator.extract.agent_views import AGENT_PACKAGE, agent_code_init
from orchestrator.extract.cases import unified_diff

BUILT_IN = ("gold", "empty")


@dataclass(frozen=True)
class Case:
    path: Path  # cases/{repo}.{commit8}/{test}.{hash}.lv{1,2}
    instance: dict[str, Any]

    @property
    def instance_id(self) -> str:
        iid: str = self.instance["instance_id"]
        return iid


@dataclass
class Predictions:
    models: dict[str, dict[str, str]]  # model -> instance id -> patch, known cases only
    unknown: dict[str, list[str]] = field(default_factory=dict)  # model -> ids of no case
    missing_reasons: dict[str, str] = field(default_factory=dict)  # id -> why no prediction


# What grading reads from instance.json; an older or hand-made file is refused up front.
_NEEDED = (
    "instance_id",
    "level",
    "environment",
    "repo_settings",
    "test_file",
    "p2p_files",
    "FAIL_TO_PASS",
    "PASS_TO_PASS",
    "top_objects",
)


def load_cases(run: Path) -> dict[str, Case]:
    """Every case under ``run/cases``, by instance id."""
    if not run.is_dir():
        raise UsageError(f"--cases {run}: not a directory; give a run directory of build-cases")
    found: dict[str, Case] = {}
    for path in sorted(run.glob("cases/*/*/instance.json")):
        try:
            instance = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: unreadable instance.json ({exc}); rebuild the run") from None
        missing = (
            [key for key in _NEEDED if key not in instance] if isinstance(instance, dict) else []
        )
        if missing or not isinstance(instance, dict):
            raise UsageError(
                f"{path}: instance.json lacks {', '.join(missing) or 'its fields'};"
                " it is not a case of this featurebench version: rebuild the run"
            )
        found[instance["instance_id"]] = Case(path.parent, instance)
    if not found:
        raise UsageError(f"--cases {run}: no cases under {run / 'cases'}; run fbench build-cases")
    return found


def load_predictions(source: str, cases: dict[str, Case]) -> Predictions:
    if source == "gold":
        return _gold(cases)
    if source == "empty":
        return Predictions({"empty": dict.fromkeys(cases, "")})
    return _from_file(Path(source), cases)


def _from_file(path: Path, cases: dict[str, Case]) -> Predictions:
    if not path.is_file():
        raise UsageError(f"--predictions {path}: no such file; give a JSONL file, gold or empty")
    found = Predictions({})
    seen: dict[tuple[str, str], int] = {}
    lines = _utf8_text(path).splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        iid, model, patch = _parse_line(path, number, line)
        if (model, iid) in seen:
            raise UsageError(
                f"{path}:{number}: {iid} of {model} is already on line {seen[model, iid]};"
                " keep one prediction per instance and model"
            )
        seen[model, iid] = number
        if iid in cases:
            found.models.setdefault(model, {})[iid] = patch
        else:
            found.models.setdefault(model, {})
            found.unknown.setdefault(model, []).append(iid)
    if not found.models:
        raise UsageError(f"--predictions {path}: no predictions in the file")
    return found


def _utf8_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8"
        ) from None


def _parse_line(path: Path, number: int, line: str) -> tuple[str, str, str]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"{path}:{number}: not JSON ({exc}); one object per line") from None
    if not isinstance(row, dict):
        raise UsageError(f"{path}:{number}: expected a JSON object per line")
    iid, model, patch = (row.get(k) for k in ("instance_id", "model_name_or_path", "model_patch"))
    if not isinstance(iid, str) or not isinstance(model, str):
        raise UsageError(
            f"{path}:{number}: instance_id and model_name_or_path must be strings"
            " (SWE-bench's format)"
        )
    if patch is not None and not isinstance(patch, str):
        raise UsageError(f"{path}:{number}: model_patch must be a string (a git diff) or null")
    if any(_lone_surrogate(text) for text in (iid, model, patch or "")):
        raise UsageError(
            f"{path}:{number}: a lone surrogate escape (such as \\ud800) is not text;"
            " a patch is UTF-8, so escape whole characters only"
        )
    return iid, model, patch or ""


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _gold(cases: dict[str, Case]) -> Predictions:
    patches: dict[str, str] = {}
    missing: dict[str, str] = {}
    for iid, case in cases.items():
        if case.instance["level"] == 1:
            patches[iid] = (case.path / "patch.diff").read_text(encoding="utf-8")
            continue
        sibling = case.path.with_name(case.path.name.removesuffix(".lv2") + ".lv1")
        if (sibling / "patch.diff").is_file():
            patches[iid] = level2_gold(case, (sibling / "patch.diff").read_text(encoding="utf-8"))
        else:
            missing[iid] = "no gold patch: the level 1 case it would come from is not in the run"
    return Predictions({"gold": patches}, missing_reasons=missing)


def level2_gold(case: Case, level1_patch: str) -> str:
    """The original code back, plus an ``agent_code`` package re-exporting the top objects."""
    repo = case.path / "repo"
    paths = {p.relative_to(repo).as_posix() for p in repo.rglob("*.py")}
    objects = [
        (key.split("::", 1)[0], key.split("::", 1)[1]) for key in case.instance["top_objects"]
    ]
    init = agent_code_init(objects, paths)
    package = unified_diff(f"{AGENT_PACKAGE}/__init__.py", None, init)
    return level1_patch + package
