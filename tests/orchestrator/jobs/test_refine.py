"""refine_spec: k-sigma rules over probe figures change exactly the keys they name."""

from __future__ import annotations

from pathlib import Path

import msgspec

from orchestrator.jobs.hooks import JobContext, JobDefaults
from orchestrator.jobs.refine import RefineArgs, RefineSpec
from orchestrator.pipeline.specs import load_specs

SPECS = """\
[SPECS_BIG]
repository = "pypi:cachetools==5.5.2"
max_f2p_num = 6

[SPECS_SMALL]
repository = "project"
docker_specs = {run_args = {cap_add = ["SYS_PTRACE"]}}

[SPECS_MIDDLE]
repository = "pypi:toolz==1.0.0"
"""


def _refine(
    tmp_path: Path, figures: dict[str, dict[str, float]], rules: list[dict[str, object]]
) -> dict[str, object]:
    (tmp_path / "project").mkdir()
    (tmp_path / "specs.toml").write_text(SPECS)
    args = msgspec.convert({"specs": "specs.toml", "figures": figures, "rules": rules}, RefineArgs)
    ctx = JobContext("refine", tmp_path / "jobs" / "refine", tmp_path, JobDefaults())
    return RefineSpec().run(args, ctx)


def test_only_specs_beyond_k_sigma_change(tmp_path: Path) -> None:
    figures = {
        "SPECS_BIG": {"tests": 300, "traced_functions": 50},
        "SPECS_SMALL": {"tests": 10, "traced_functions": 5},
        "SPECS_MIDDLE": {"tests": 100, "traced_functions": 60},
    }
    rules = [
        {"figure": "tests", "k": 1.0, "when": "above", "key": "max_f2p_num", "set": 2},
        {
            "figure": "traced_functions",
            "k": 1.0,
            "when": "below",
            "key": "max_code_line_upper_bound",
            "scale": 1.5,
        },
        {"figure": "tests", "k": 5.0, "key": "min_test_num", "add": 10},  # nobody is 5 sigma out
    ]
    out = _refine(tmp_path, figures, rules)
    changed = [(c["spec"], c["key"], c["old"], c["new"]) for c in out["changes"]]  # type: ignore[attr-defined]
    assert changed == [
        ("SPECS_BIG", "max_f2p_num", 6, 2),
        ("SPECS_SMALL", "max_code_line_upper_bound", 500, 750),
    ]
    before = {s.name: s.settings for s in load_specs(tmp_path / "specs.toml")}
    after = {s.name: s.settings for s in load_specs(Path(str(out["specs"])))}
    assert after["SPECS_BIG"] == msgspec.structs.replace(before["SPECS_BIG"], max_f2p_num=2)
    assert after["SPECS_MIDDLE"] == before["SPECS_MIDDLE"]
    small = after["SPECS_SMALL"]
    assert small.max_code_line_upper_bound == 750
    assert small.repository == str(tmp_path / "project")  # still found from the job's folder
    assert small.docker_specs.run_args.cap_add == ["SYS_PTRACE"]


def test_one_spec_has_no_spread_and_nothing_changes(tmp_path: Path) -> None:
    rules = [{"figure": "tests", "k": 0.0, "key": "max_f2p_num", "set": 1}]
    out = _refine(tmp_path, {"SPECS_BIG": {"tests": 3}}, rules)
    assert out["changes"] == []
