"""The hook protocol, a job's context, and the hooks that run build-cases and build-pairs.

A hook is a class registered under ``featurebench.hooks``: ``Args``, a msgspec
Struct of its arguments (checked before any job runs), ``outputs``, the names
a later job may refer to as ``${meta_name.output}``, and ``run``. What ``run``
returns is the job's ``context_infos`` entry, so it is plain JSON data.
Each job writes under its own folder; a job run again (``--resume`` after a
kill) continues the run it left there, and the stage cache makes finished
work free.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import msgspec

from orchestrator.errors import RunFailed
from orchestrator.pipeline.storage import is_run_dir, read_json


class Hook(Protocol):
    Args: ClassVar[type[msgspec.Struct]]
    outputs: ClassVar[tuple[str, ...]]

    def run(self, args: Any, ctx: JobContext) -> dict[str, Any]: ...


@dataclass(frozen=True)
class JobDefaults:
    """What every job's builds share, from ``fbench sandbox``'s options."""

    global_config_path: Path = Path("config.toml")
    cache_dir: Path | None = None
    backend: str = "local"
    jobs: int = field(default_factory=lambda: os.cpu_count() or 1)
    no_sandbox: bool = False
    executor: str = "local"  # where the builds' specs and eval's cases run: local, ray
    ray_address: str | None = None


@dataclass(frozen=True)
class JobContext:
    meta_name: str
    folder: Path  # <run>/jobs/<meta_name>: this job's own outputs
    base: Path  # the job list's directory: relative paths start here
    defaults: JobDefaults

    def path(self, value: str) -> Path:
        return (self.base / value).resolve()

    def previous_run(self, is_run: Callable[[Path], bool] = is_run_dir) -> Path | None:
        """The run this job started before a kill, to be continued rather than redone."""
        found = sorted(p for p in self.folder.glob("[0-9]*/*") if is_run(p))
        return found[-1] if found else None

    def build_options(self, specs: str, debug: str = "") -> Any:
        from orchestrator.build import BuildOptions  # the composition root: imported when run

        return BuildOptions(
            config_path=self.path(specs),
            global_config_path=self.defaults.global_config_path,
            output_dir=self.folder,
            resume=self.previous_run(),
            debug=debug,
            backend=self.defaults.backend,
            jobs=self.defaults.jobs,
            cache_dir=self.defaults.cache_dir,
            no_sandbox=self.defaults.no_sandbox,
            executor=self.defaults.executor,
            ray_address=self.defaults.ray_address,
        )


class ProbeArgs(msgspec.Struct, forbid_unknown_fields=True):
    specs: str  # a specs file (.py or .toml), relative to the job list
    end: str = "dynamic"  # the last stage probed: repo, image, scanner, runner or dynamic


class ProbeRepo:
    """Repo, image, scanner, runner and dynamic on the specs, with figures per spec."""

    Args = ProbeArgs
    outputs = ("run_dir", "specs", "figures")

    def run(self, args: ProbeArgs, ctx: JobContext) -> dict[str, Any]:
        from orchestrator.build import build_cases

        root = build_cases(ctx.build_options(args.specs, f"end={args.end}"))
        return {
            "run_dir": str(root),
            "specs": str(ctx.path(args.specs)),
            "figures": probe_figures(root),
        }


def probe_figures(root: Path) -> dict[str, dict[str, float]]:
    """Per spec: tests, pass rate, traced functions, candidate files and estimated yield."""
    status_file = root / "metadata_outputs" / "files_status.json"
    status = read_json(status_file) if status_file.is_file() else {}
    return {
        spec: _spec_figures(root, spec, entry.get("files", {})) for spec, entry in status.items()
    }


def _spec_figures(root: Path, spec: str, files: dict[str, Any]) -> dict[str, float]:
    ran = [info["runner"] for info in files.values() if "runner" in info]
    traces = [
        read_json(p)
        for p in sorted((root / "metadata_outputs" / "dynamic_trace" / spec).glob("*.json"))
    ]
    traced = {trace["file"] for trace in traces}
    functions = {
        (row[0], row[1])
        for trace in traces
        for test in trace["tests"].values()
        for row in test["calls"]
    }
    candidates = {path for path, info in files.items() if info.get("f2p_candidate")}
    return {
        "test_files": len(files),
        "tests": sum(info.get("tests", 0) for info in files.values()),
        "pass_rate": sum(r.get("status") == "ok" for r in ran) / len(ran) if ran else 0.0,
        "traced_functions": len(functions),
        "candidate_files": len(candidates),
        # The share of test files likely to give a case: candidates whose tracing succeeded.
        "estimated_yield": len(candidates & traced) / len(files) if files else 0.0,
    }


class BuildArgs(msgspec.Struct, forbid_unknown_fields=True):
    specs: str
    debug: str = ""  # as build-cases' --debug, e.g. "end=p2p"


class BuildCases:
    """The build-cases pipeline on the specs (a refined spec from refine_spec, say)."""

    Args = BuildArgs
    outputs = ("run_dir", "cases", "figures")

    def run(self, args: BuildArgs, ctx: JobContext) -> dict[str, Any]:
        from orchestrator.build import build_cases

        root = build_cases(ctx.build_options(args.specs, args.debug))
        status_file = root / "metadata_outputs" / "data_status.json"
        status = read_json(status_file) if status_file.is_file() else {}
        figures = {
            spec: {k: entry[k] for k in ("f2p_candidates", "valid_files", "valid_units", "cases")}
            for spec, entry in status.items()
        }
        cases = len(list(root.glob("cases/*/*/instance.json")))
        return {"run_dir": str(root), "cases": cases, "figures": figures}


class PairsArgs(msgspec.Struct, forbid_unknown_fields=True):
    specs: str
    debug: str = ""
    num_samples: int | None = None


class BuildPairs:
    """The build-pairs pipeline on the specs."""

    Args = PairsArgs
    outputs = ("run_dir", "pairs")

    def run(self, args: PairsArgs, ctx: JobContext) -> dict[str, Any]:
        from orchestrator.pairs.run import PairsOptions, build_pairs, is_pairs_run

        base = ctx.build_options(args.specs, args.debug)
        resume = ctx.previous_run(is_pairs_run)
        options = PairsOptions(**{**vars(base), "resume": resume, "num_samples": args.num_samples})
        root, run_ctx = build_pairs(options)
        if run_ctx.errors:
            raise RunFailed(
                f"build-pairs reported {len(run_ctx.errors)} error(s): {run_ctx.errors[0]}"
            )
        rows = root / "final_dataset" / "instruction_dataset.jsonl"
        pairs = len(rows.read_text(encoding="utf-8").splitlines()) if rows.is_file() else 0
        return {"run_dir": str(root), "pairs": pairs}
