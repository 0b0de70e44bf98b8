"""What ``fbench eval`` grades: the cases of a run and the predictions, read and checked.

Predictions are the files agents write: SWE-bench's JSONL (``instance_id``,
``model_name_or_path``, ``model_patch``), a JSON list of such rows, a JSON
object keyed by instance id (mini-swe-agent's ``preds.json``) or OpenHands'
``output.jsonl`` (the diff in ``test_result.git_patch``). A row without
``model_name_or_path`` is the model named by OpenHands' ``metadata.llm_config``,
else by the file's name without its suffix. Or one of two self-checks built
from the cases:

- ``gold``: each level 1 case's ``patch.diff``. A level 2 case has no patch of
  its own; its gold is its level 1 sibling's ``patch.diff`` (the original code
  back) plus an ``agent_code/__init__.py`` that re-exports the top objects,
  which is what the data stage proved its rewritten tests pass against;
- ``empty``: an empty patch for every case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
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
        raise UsageError(
            f"--predictions {path}: no such file; give a predictions file, gold or empty"
        )
    found = Predictions({})
    seen: dict[tuple[str, str], str] = {}
    for where, row in _rows(path):
        iid, model, patch = _parse_row(where, row, default_model=path.stem)
        if (model, iid) in seen:
            raise UsageError(
                f"{where}: {iid} of {model} is already at {seen[model, iid]};"
                " keep one prediction per instance and model"
            )
        seen[model, iid] = where
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


def _rows(path: Path) -> Iterator[tuple[str, Any]]:
    """Each prediction with where it is: JSONL, a JSON list, or a JSON object by id."""
    text = _utf8_text(path)
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None  # JSONL, read line by line below
    if isinstance(whole, list):
        yield from ((f"{path}: item {n}", row) for n, row in enumerate(whole, 1))
    elif isinstance(whole, dict) and not _is_row(whole):
        # mini-swe-agent's preds.json: instance id -> row (whose instance_id may be absent)
        for iid, row in whole.items():
            yield f"{path}: key {iid}", _with_id(iid, row)
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"{path}:{number}", _json_line(path, number, line)


def _with_id(iid: str, row: Any) -> Any:
    return {"instance_id": iid, **row} if isinstance(row, dict) else row


def _is_row(value: dict[str, Any]) -> bool:
    return "instance_id" in value and not isinstance(value["instance_id"], dict)


def _json_line(path: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise UsageError(f"{path}:{number}: not JSON ({exc}); one object per line") from None


def _parse_row(where: str, row: Any, default_model: str) -> tuple[str, str, str]:
    """instance id, model and patch of one row, SWE-bench's or OpenHands' shape."""
    if not isinstance(row, dict):
        raise UsageError(f"{where}: expected a JSON object with instance_id and model_patch")
    iid = row.get("instance_id")
    model = row.get("model_name_or_path") or _openhands_model(row) or default_model
    if "model_patch" in row:
        patch = row["model_patch"]
    else:  # OpenHands' output.jsonl keeps the diff in test_result.git_patch
        result = row.get("test_result")
        patch = result.get("git_patch") if isinstance(result, dict) else None
    if not isinstance(iid, str) or not isinstance(model, str):
        raise UsageError(
            f"{where}: instance_id and model_name_or_path must be strings (SWE-bench's format)"
        )
    if patch is not None and not isinstance(patch, str):
        raise UsageError(f"{where}: model_patch must be a string (a git diff) or null")
    if any(_lone_surrogate(text) for text in (iid, model, patch or "")):
        raise UsageError(
            f"{where}: a lone surrogate escape (such as \\ud800) is not text;"
            " a patch is UTF-8, so escape whole characters only"
        )
    return iid, model, patch or ""


def _lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _openhands_model(row: dict[str, Any]) -> str | None:
    metadata = row.get("metadata")
    config = metadata.get("llm_config") if isinstance(metadata, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    return model if isinstance(model, str) else None


def _gold(cases: dict[str, Case]) -> Predictions:
    patches: dict[str, str] = {}
    missing: dict[str, str] = {}
    for iid, case in cases.items():
        patch = gold_patch(case)
        if patch is None:
            missing[iid] = "no gold patch: the level 1 case it would come from is not in the run"
        else:
            patches[iid] = patch
    return Predictions({"gold": patches}, missing_reasons=missing)


def gold_patch(case: Case) -> str | None:
    """The case's reference solution; None for a level 2 case whose level 1 is gone."""
    if case.instance["level"] == 1:
        return (case.path / "patch.diff").read_text(encoding="utf-8")
    sibling = case.path.with_name(case.path.name.removesuffix(".lv2") + ".lv1")
    if not (sibling / "patch.diff").is_file():
        return None
    return level2_gold(case, (sibling / "patch.diff").read_text(encoding="utf-8"))


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
