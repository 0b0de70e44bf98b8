"""Probes reused by content give the cases that running every probe gives.

The feature project is built twice from an empty cache: with the probe cache
(the default) and with ``--debug "data=False"``, which runs every probe. Every
file of every case must be byte-identical and every candidate must end the same
way; the first build must really have reused probes (the statement-faithful
tree is the gold tree when the statement lists everything), the second none.
Then, with the data stage's results removed from the first build's cache, a
third build asks for every probe again and gets each from the probe cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.pipeline.probe_cache import REUSED
from tests.orchestrator.stages.test_data_warm import build, case_files, endings


def probe_logs(run: Path) -> dict[str, bool]:
    """Each probe's log (``kind/name``): whether its result was reused."""
    logs = run / "logs"
    return {
        str(log.relative_to(logs)): log.read_text().startswith(REUSED)
        for kind in ("mask_generator", "f2p_validate", "p2p_validate", "level2_validate")
        for log in (logs / kind).rglob("*.log")
        if (log.with_suffix(".jsonl")).exists()
    }


def test_reused_probes_give_byte_identical_cases(tmp_path: Path) -> None:
    reusing = build(tmp_path, "reusing", "cache")
    running = build(tmp_path, "running", "cold-cache", "--debug", "data=False")
    reused, ran = probe_logs(reusing), probe_logs(running)
    assert reused.keys() == ran.keys()  # the same probes were asked for
    assert any(name.endswith(".faithful.log") and hit for name, hit in reused.items())
    assert not any(ran.values())
    cases = case_files(reusing)
    assert any(name.endswith("patch.diff") for name in cases)  # there are cases
    assert cases == case_files(running)
    assert endings(reusing) == endings(running)
    shutil.rmtree(tmp_path / "cache" / "results" / "data")  # the stage asked again
    again = build(tmp_path, "again", "cache")
    assert probe_logs(again).keys() == reused.keys()
    assert all(probe_logs(again).values())  # across runs: every probe, reruns' repetitions too
    assert case_files(again) == cases
