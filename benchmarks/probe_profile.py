"""Where the data stage's CPU goes, and CPU per valid case against an older revision.

``cases_per_repo.py --profile`` and ``--baseline-rev REV`` come here. Each spec
is built from an empty cache by each side:

- ``current``: this tree, probes forked from a warm worker (the default);
- ``cold`` (with ``--profile``): this tree with ``FBENCH_WARM_PROBES=0``, every
  probe a fresh interpreter, as before the warm worker;
- ``baseline`` (with ``--baseline-rev``): REV checked out with ``git worktree``
  and installed into its own virtualenv with uv.

CPU is the resource usage of ``fbench`` and everything it ran (the machine is
shared: wall time says little). Per side: CPU seconds, valid units, CPU per
valid unit, and the ratio to the baseline (or to cold). With ``--profile``,
per candidate: the number of pytest processes, their CPU (from the plugin's
session-end record), and the share spent starting up (interpreter, pytest and
plugin imports, configuration, collection) against running tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cases_per_repo import ROOT, _toml, children_cpu, measure

from orchestrator.pipeline.probe_cache import REUSED
from orchestrator.pipeline.storage import file_slug

CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1's CPU accounting
PROBE_KINDS = ("mask_generator", "f2p_validate", "p2p_validate", "level2_validate")


@dataclass
class Side:
    name: str
    fbench: Path
    env: dict[str, str]


@dataclass
class Probes:
    count: int = 0
    cpu: float = 0.0
    startup: float = 0.0  # until collection was done

    def add(self, cpu: list[float]) -> None:
        self.count += 1
        if len(cpu) == 3:  # [session start, collection done, session end]
            self.cpu += cpu[2]
            self.startup += cpu[1]

    def line(self, label: str) -> str:
        share = f"{self.startup / self.cpu:6.0%}" if self.cpu else f"{'-':>6}"
        return f"  {label:<44} {self.count:>5} {self.cpu:8.1f} {share}"


def build(side: Side, name: str, table: dict[str, Any], work: Path) -> tuple[Path, float]:
    """One spec built by one side from an empty cache: its run directory and CPU seconds."""
    (work / "specs.toml").write_text(_toml(name, table))
    command = [str(side.fbench), "build-cases", "--config-path", str(work / "specs.toml")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    with cpu_meter() as meter:
        done = subprocess.run(
            [*meter.prefix, *command],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **side.env},
        )
    cpu = meter.seconds
    runs = sorted((work / "out").glob("[0-9]*/*"))
    if not runs:
        raise SystemExit(
            f"{side.name} {name}: fbench exited {done.returncode}: {done.stderr[-2000:]}"
        )
    return runs[-1], cpu


class CpuMeter:
    """CPU seconds of a command and every process under it.

    A cpuacct cgroup where one can be made: bubblewrap does not pass its
    children's resource usage on, so ``RUSAGE_CHILDREN`` misses every sandboxed
    test run. Elsewhere that usage, with a warning.
    """

    def __init__(self) -> None:
        self.group: Path | None = None
        self.prefix: list[str] = []
        self.seconds = 0.0
        self._before = children_cpu()
        if CPUACCT.is_dir() and os.access(CPUACCT, os.W_OK):
            self.group = Path(tempfile.mkdtemp(prefix="fb-bench-", dir=CPUACCT))
            self.prefix = [
                "sh",
                "-c",
                'echo $$ > "$0" && exec "$@"',
                str(self.group / "cgroup.procs"),
            ]
        else:
            print("warning: no cpuacct cgroup: sandboxed test runs are not counted", flush=True)

    def stop(self) -> None:
        if self.group is None:
            self.seconds = children_cpu() - self._before
            return
        self.seconds = int((self.group / "cpuacct.usage").read_text()) / 1e9
        with contextlib.suppress(OSError):  # a process left behind keeps it; harmless
            self.group.rmdir()


@contextmanager
def cpu_meter() -> Iterator[CpuMeter]:
    meter = CpuMeter()
    try:
        yield meter
    finally:
        meter.stop()


def candidates(run: Path, name: str) -> dict[str, Probes]:
    """Per data candidate, the pytest processes its probes ran, from their records."""
    status = json.loads((run / "metadata_outputs" / "data_status.json").read_text())
    found: dict[str, Probes] = {}
    for key in status.get(name, {}).get("files", {}):
        probes = found.setdefault(key, Probes())
        for kind in PROBE_KINDS:
            for records in (run / "logs" / kind / name).glob(f"{file_slug(key)}.*.jsonl"):
                if not _reused(records):  # its CPU was spent, and counted, once
                    probes.add(_session_cpu(records))
    return found


def steps(run: Path, name: str) -> dict[str, Probes]:
    """Per kind of probe (``f2p_validate gold``, ``p2p_validate rerun``, ...), over every
    candidate: the sessions run (reused ones apart, at no CPU), their CPU and startup."""
    found: dict[str, Probes] = {}
    for kind in PROBE_KINDS:
        for records in sorted((run / "logs" / kind / name).glob("*.jsonl")):
            step = re.sub(r"[0-9.]+$", "", records.stem.rsplit(".", 1)[-1])
            if _reused(records):
                found.setdefault(f"{kind} {step} (reused)", Probes()).count += 1
            else:
                found.setdefault(f"{kind} {step}", Probes()).add(_session_cpu(records))
    return found


def _reused(records: Path) -> bool:
    """Whether the probe's result came from the probe cache (its log says so)."""
    log = records.with_suffix(".log")
    return log.exists() and log.read_text(errors="replace").startswith(REUSED)


def _session_cpu(records: Path) -> list[float]:
    lines = records.read_bytes().rstrip(b"\n").splitlines()
    last: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    cpu = last.get("cpu", []) if last.get("type") == "session_end" else []
    return [float(c) for c in cpu]


@contextmanager
def baseline(rev: str, into: Path) -> Iterator[Side]:
    """REV of this repository, installed into a virtualenv of its own."""
    source = into / "src"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(source), rev],
        check=True,
        capture_output=True,
    )
    try:
        venv = into / "venv"
        uv = [sys.executable, "-m", "uv"]
        subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install = [*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python")]
        subprocess.run([*install, str(source)], check=True)
        yield Side(f"baseline {rev}", venv / "bin" / "fbench", {})
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(source)], check=False
        )


def report(
    side: Side, name: str, table: dict[str, Any], profile: bool, keep: Path | None = None
) -> tuple[float, int]:
    """Build ``name`` with ``side``; prints its line (and candidates); CPU, valid units."""
    with tempfile.TemporaryDirectory(prefix="fb-probe-profile-") as tmp:
        work = keep / file_slug(side.name) / name if keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        run, cpu = build(side, name, table, work)
        row = measure(run, name, cpu)
        per_case = cpu / row.valid_units if row.valid_units else None
        shown = f"{per_case:10.2f}" if per_case is not None else f"{'-':>10}"
        label = name.removeprefix("SPECS_").lower()
        print(f"{label:<16} {side.name:<20} {cpu:8.1f} {row.valid_units:>6} {shown}", flush=True)
        if profile:
            total = Probes()
            for key, probes in candidates(run, name).items():
                print(probes.line(key), flush=True)
                total.count, total.cpu = total.count + probes.count, total.cpu + probes.cpu
                total.startup += probes.startup
            print(total.line("all candidates"), flush=True)
            for step, probes in sorted(steps(run, name).items()):
                print(probes.line(step), flush=True)
    return cpu, row.valid_units


def main(
    tables: dict[str, dict[str, Any]],
    only: list[str],
    profile: bool,
    rev: str | None,
    repeat: int = 1,
) -> None:
    print(f"{'library':<16} {'side':<20} {'cpu s':>8} {'vunit':>6} {'cpu s/case':>10}")
    if profile:
        print(f"  {'candidate':<44} {'procs':>5} {'cpu s':>8} {'start':>6}")
    current = Side("current", Path(sys.executable).parent / "fbench", {"FBENCH_WARM_PROBES": "1"})
    with tempfile.TemporaryDirectory(prefix="fb-baseline-") as tmp:
        sides = [current]
        if profile:
            sides.append(Side("cold", current.fbench, {"FBENCH_WARM_PROBES": "0"}))
        with baseline(rev, Path(tmp)) if rev else _nothing() as old:
            sides += [old] if old is not None else []
            for run in range(repeat):  # the load of a shared machine drifts: alternate
                order = sides if run % 2 == 0 else sides[::-1]
                _compare(tables, only, order, sides[-1].name, profile)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _compare(
    tables: dict[str, dict[str, Any]],
    only: list[str],
    sides: list[Side],
    reference: str,
    profile: bool,
) -> None:
    """Each spec by each side; then CPU per valid case over the specs every side made one of."""
    totals = {side.name: [0.0, 0] for side in sides}
    for name, table in tables.items():
        if only and name not in only:
            continue
        found = {side.name: report(side, name, table, profile) for side in sides}
        if all(units for _, units in found.values()):
            for side_name, (cpu, units) in found.items():
                totals[side_name][0] += cpu
                totals[side_name][1] += units
    per_case = {name: cpu / units for name, (cpu, units) in totals.items() if units}
    for side in sides:
        if side.name != reference and side.name in per_case and reference in per_case:
            ratio = per_case[side.name] / per_case[reference]
            print(
                f"CPU s per valid case: {side.name} {per_case[side.name]:.2f},"
                f" {reference} {per_case[reference]:.2f}; ratio {ratio:.2f}"
                f" ({1 - ratio:.0%} less; target 30%)"
            )
