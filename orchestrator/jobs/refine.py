"""``refine_spec``: spec keys adjusted from probe figures, by k-sigma rules (seed 003).

A rule names a figure of the probe, a spec key and a change. Over the probed
specs, the figure's mean and standard deviation are taken; a spec whose figure
lies more than ``k`` sigma from the mean (above, below, or either side) gets
the change. The refined specs are written as a TOML specs file in the job's
folder, and every change is listed with the numbers that decided it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Literal

import msgspec

from orchestrator.jobs.hooks import JobContext
from orchestrator.pipeline.specs import FIELDS, RepoSpec, Spec, load_specs
from orchestrator.pipeline.storage import write_atomic

_DEFAULTS = RepoSpec(repository="")


class Rule(msgspec.Struct, forbid_unknown_fields=True):
    figure: str  # a probe figure: tests, pass_rate, traced_functions, candidate_files, ...
    key: str  # the spec key changed, e.g. max_f2p_num or max_code_line_upper_bound
    k: float = 1.0
    when: Literal["above", "below", "outside"] = "outside"
    scale: float | None = None  # new = old * scale (rounded for an integer key)
    add: float | None = None  # new = old + add
    set: int | float | str | bool | None = None  # new = set

    def __post_init__(self) -> None:  # msgspec reports these as the job's argument errors
        if self.key not in FIELDS:
            raise ValueError(f"key {self.key!r} is not a spec key (see specs/REFERENCE.md)")
        if sum(change is not None for change in (self.scale, self.add, self.set)) != 1:
            raise ValueError(f"rule for {self.key}: give exactly one of scale, add or set")


class RefineArgs(msgspec.Struct, forbid_unknown_fields=True):
    specs: str
    figures: dict[str, dict[str, float]]
    rules: list[Rule]


class RefineSpec:
    Args = RefineArgs
    outputs = ("specs", "changes")

    def run(self, args: RefineArgs, ctx: JobContext) -> dict[str, Any]:
        source = ctx.path(args.specs)
        specs = {spec.name: _settings(spec, source.parent) for spec in load_specs(source)}
        changes = [change for rule in args.rules for change in _apply(rule, args.figures, specs)]
        out = ctx.folder / "refined_specs.toml"
        write_atomic(out, render_toml(specs).encode())
        load_specs(out)  # a rule that made a spec invalid fails here, naming key and value
        return {"specs": str(out), "changes": changes}


def _settings(spec: Spec, base: Path) -> dict[str, Any]:
    settings: dict[str, Any] = msgspec.to_builtins(spec.settings)
    local = base / settings["repository"]
    if local.exists():  # a local path stays valid from the job's folder
        settings["repository"] = str(local.resolve())
    return settings


def _apply(
    rule: Rule, figures: dict[str, dict[str, float]], specs: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    values = {name: figures.get(name, {}).get(rule.figure) for name in specs}
    known = {name: float(v) for name, v in values.items() if v is not None}
    if len(known) < 2:
        return []  # one value has no spread to be far from
    mean, sigma = statistics.fmean(known.values()), statistics.pstdev(known.values())
    changes = []
    for name, value in known.items():
        if _far(rule, value - mean, sigma):
            old = specs[name].get(rule.key, getattr(_DEFAULTS, rule.key))
            specs[name][rule.key] = _changed(rule, old)
            changes.append(
                {
                    "spec": name,
                    "key": rule.key,
                    "old": old,
                    "new": specs[name][rule.key],
                    "figure": rule.figure,
                    "value": value,
                    "mean": mean,
                    "sigma": sigma,
                }
            )
    return changes


def _far(rule: Rule, distance: float, sigma: float) -> bool:
    bound = rule.k * sigma
    if rule.when == "above":
        return distance > bound
    if rule.when == "below":
        return -distance > bound
    return abs(distance) > bound


def _changed(rule: Rule, old: Any) -> Any:
    if rule.set is not None:
        return rule.set
    new = old * rule.scale if rule.scale is not None else old + (rule.add or 0)
    return round(new) if isinstance(old, int) else new


def render_toml(specs: dict[str, dict[str, Any]]) -> str:
    """A specs file in TOML; values are JSON where JSON is TOML, inline tables otherwise."""
    lines = ["# Specs refined by fbench sandbox's refine_spec."]
    for name, settings in specs.items():
        lines += ["", f"[{json.dumps(name)}]"]
        lines += [f"{key} = {_toml(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)
