"""A ``build-cases --executor ray`` driver killed mid-run is continued with ``--resume``:
what it had taken back is reused, not run again, and the cases are an undisturbed run's."""

from __future__ import annotations

from pathlib import Path

from tests.orchestrator.executors.runs import (
    build,
    case_bytes,
    fbench,
    feature_specs,
    kill_when_logged,
    no_stage_cache,
    resume,
    stamps,
    waiting_spec,
    write_specs,
)
from tests.support.raycluster import RayCluster

TAKEN_BACK = "SPECS_GEOM: ran on Ray node"  # the driver's line once it wrote the spec's result
# Every stage's cache off: only the run's journal can spare work. The environments stay
# cached, so the three runs build each of them once.
NO_STAGE_CACHE = no_stage_cache()


def test_a_killed_ray_driver_resumes_without_running_again_what_it_took_back(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """geom ends and is taken back while the second spec's test waits for a file; the
    driver is SIGKILLed; the file is made, and --resume on Ray finishes with geom's item
    logs untouched: nothing of geom ran again."""
    release = tmp_path / "release"
    specs = feature_specs(tmp_path, ("geom",))
    specs["SPECS_WAITS"] = waiting_spec(tmp_path, [str(release)], limit=600)
    path = write_specs(tmp_path / "specs.py", specs)
    out, cache = tmp_path / "out", str(tmp_path / "cache")
    address = ("--executor", "ray", "--ray-address", ray_cluster.address)
    # --no-sandbox: the waiting test must see ``release``.
    options = ("--jobs", "2", "--no-sandbox", "--debug", NO_STAGE_CACHE)
    common = (*options, "--cache-dir", cache)
    command = fbench("build-cases", "--config-path", str(path), "--output-dir", str(out))
    command += [*common, *address]
    kill_when_logged(command, tmp_path / "first.log", (out, "[0-9]*/*/logs/fbench.log"), TAKEN_BACK)
    (run,) = out.glob("[0-9]*/*")
    before = stamps(run, "SPECS_GEOM")
    assert "SPECS_WAITS: ran on Ray node" not in (run / "logs" / "fbench.log").read_text()
    release.touch()
    resume("build-cases", run, *common, *address)
    assert stamps(run, "SPECS_GEOM") == before  # none of geom's items ran again
    assert stamps(run, "SPECS_WAITS")  # the slow spec ran, to its end
    undisturbed = build(path, tmp_path / "local", Path(cache), *options)
    assert case_bytes(run) == case_bytes(undisturbed)
