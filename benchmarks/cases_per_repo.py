"""Cases per library: how many units of real test suites become valid cases, at what cost.

Each spec of the specs file runs ``fbench build-cases`` on its own, from an
empty cache (download, environment, scan, run, trace, top, p2p, data). Printed
per library, from the run's ``data_status.json``, ``files_status.json`` and
the cases written:

- pass: tests in the files that passed the runner;
- F2P files and F2P units (a unit is a file, a test class or a group of tests);
- valid files and valid units, cases at level 1 and level 2;
- yield = valid units / F2P units;
- CPU seconds (fbench and everything it ran) per valid unit.

The last line sums them, beside the targets: yield at least 60% overall, and a
valid case from every library with 100 or more passing tests.

    python benchmarks/cases_per_repo.py [--specs specs/yield_specs.toml] [--only NAME ...]
        [--work DIR] [--profile] [--baseline-rev REV] [--repeat N]

With ``--profile`` and/or ``--baseline-rev REV``, CPU per valid case side by
side instead, and where the data stage's CPU goes (see ``probe_profile.py``).

With ``--work DIR`` each spec runs in ``DIR/<name>`` and keeps it: the run's
drop reasons stay readable, and a rerun reuses the cache of the stages before
top (download, environment, scan, run, trace) while top, p2p and data run
afresh, so a change to the selection is measured without repeating the runs.
The CPU figure of such a rerun is then not a cold one.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_YIELD = 0.6
BIG_SUITE = 100


@dataclass
class Row:
    passing: int = 0
    f2p_files: int = 0
    f2p_units: int = 0
    valid_files: int = 0
    valid_units: int = 0
    lv1: int = 0
    lv2: int = 0
    cpu: float = 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(name: str, table: dict[str, Any], work: Path) -> tuple[Path, float]:
    """One spec's run directory, and the CPU seconds it took."""
    specs = work / "specs.toml"
    specs.write_text(_toml(name, table))
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-cases", "--config-path", str(specs)]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    command += ["--debug", "top=False, p2p=False, data=False"]  # the stages measured: never stale
    before = children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = children_cpu() - before
    printed = done.stdout.strip().splitlines()  # fbench prints the run directory on stdout
    run = Path(printed[-1]) if printed else None
    if run is None or not run.is_dir():
        raise SystemExit(f"{name}: fbench exited {done.returncode}: {done.stderr[-2000:]}")
    return run, cpu


def _toml(name: str, table: dict[str, Any]) -> str:
    lines = [f"[{name}]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def measure(run: Path, name: str, cpu: float) -> Row:
    metadata = run / "metadata_outputs"
    status = _read(metadata / "data_status.json").get(name, {})  # none: stopped before data
    files = _read(metadata / "files_status.json").get(name, {}).get("files", {})
    passed = [f for f in files.values() if (f.get("runner") or {}).get("status") == "ok"]
    cases = [p.name for p in run.glob("cases/*/*")]
    return Row(
        passing=sum(f["tests"] for f in passed),
        f2p_files=status.get("f2p_candidates", 0),
        f2p_units=status.get("f2p_units", 0),
        valid_files=status.get("valid_files", 0),
        valid_units=status.get("valid_units", 0),
        lv1=sum(c.endswith(".lv1") for c in cases),
        lv2=sum(c.endswith(".lv2") for c in cases),
        cpu=cpu,
    )


def _read(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return found


def stopped(run: Path, name: str) -> str:
    """Why a spec's run stopped before the data stage, from its summary, if it did."""
    summary = _read(run / "metadata_outputs" / "summary.json")
    spec = summary.get("specs", {}).get(name, {})
    return str(spec.get("stopped") or "") if isinstance(spec, dict) else ""


def line(label: str, row: Row) -> str:
    rate = row.valid_units / row.f2p_units if row.f2p_units else 0.0
    per_case = f"{row.cpu / row.valid_units:8.0f}" if row.valid_units else f"{'-':>8}"
    return (
        f"{label:<16} {row.passing:>5} {row.f2p_files:>5} {row.f2p_units:>5}"
        f" {row.valid_files:>5} {row.valid_units:>5} {row.lv1:>4} {row.lv2:>4}"
        f" {rate:>6.0%} {per_case}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, default=ROOT / "specs" / "yield_specs.toml")
    parser.add_argument("--only", nargs="*", default=[], help="spec names to run")
    parser.add_argument("--profile", action="store_true", help="pytest processes per candidate")
    parser.add_argument("--baseline-rev", help="git revision to compare CPU per valid case with")
    parser.add_argument(
        "--repeat", type=int, default=1, help="compare N times, the sides' order alternating"
    )
    parser.add_argument("--work", type=Path, help="keep each spec's run and cache in DIR/<name>")
    options = parser.parse_args()
    tables = tomllib.loads(options.specs.read_text())
    if options.profile or options.baseline_rev:
        import probe_profile

        probe_profile.main(
            tables, options.only, options.profile, options.baseline_rev, options.repeat
        )
        return
    print(
        f"{'library':<16} {'pass':>5} {'files':>5} {'units':>5} {'vfile':>5} {'vunit':>5}"
        f" {'lv1':>4} {'lv2':>4} {'yield':>6} {'cpu s/c':>8}",
        flush=True,
    )
    total = Row()
    misses: list[str] = []
    for name, table in tables.items():
        if options.only and name not in options.only:
            continue
        with tempfile.TemporaryDirectory(prefix="fb-cases-per-repo-") as tmp:
            work = options.work / name if options.work else Path(tmp)
            work.mkdir(parents=True, exist_ok=True)
            run, cpu = build(name, table, work)
            row = measure(run, name, cpu)
            why = stopped(run, name)
        print(line(name.removeprefix("SPECS_").lower(), row), flush=True)
        if why:
            print(f"  stopped: {why[:300]}", flush=True)
        for field in fields(Row):
            setattr(total, field.name, getattr(total, field.name) + getattr(row, field.name))
        if row.passing >= BIG_SUITE and not row.valid_units:
            misses.append(name)
    print(line("all", total))
    rate = total.valid_units / total.f2p_units if total.f2p_units else 0.0
    print(
        f"targets: yield >= {TARGET_YIELD:.0%}: {'ok' if rate >= TARGET_YIELD else 'LOW'};"
        f" a case from every library with {BIG_SUITE}+ passing tests:"
        f" {'ok' if not misses else 'missed ' + ', '.join(misses)}"
    )


if __name__ == "__main__":
    main()
