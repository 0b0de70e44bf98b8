"""A ``build-pairs --executor ray`` driver killed mid-run is continued with ``--resume``
on Ray: what it had taken back is not run again, and the files of every spec's rows
are an undisturbed run's."""

from __future__ import annotations

from pathlib import Path

from orchestrator.pairs.run import CACHED
from tests.orchestrator.executors.runs import (
    WAITING_TEST,
    fbench,
    kill_when_logged,
    no_stage_cache,
    resume,
    stamps,
    write_specs,
)
from tests.orchestrator.executors.test_ray_pairs import on_ray, shared_files
from tests.orchestrator.pairs.text_project import Project, make_text_project
from tests.support.gitrepos import commit_files
from tests.support.raycluster import RayCluster

TAKEN_BACK = "SPECS_TEXTKIT: ran on Ray node"  # the driver's line once it published the spec
# Every stage's cache off: only the run's journal can spare work (the environments stay
# cached, so the runs build each of them once).
NO_STAGE_CACHE = no_stage_cache(CACHED)
# The file the waiting test waits for, in the cache: of the machine, a sandboxed test sees
# its environment alone (read-only), which is under the cache, so the file goes there.
RELEASE = Path("envs", "*", "home", "release")


def two_specs(work: Path, release: str) -> Path:
    """textkit, and wordkit: the same functions, and a test that waits for a file that
    ``release`` matches, so wordkit's runner stage lasts until the test makes it."""
    specs = {}
    for name in ("textkit", "wordkit"):
        make_text_project(work / name)
        specs[f"SPECS_{name.upper()}"] = {
            "repository": str(work / name),
            "pip_packages": ["pytest"],
        }
    waits = WAITING_TEST.format(patterns=[release], limit=600)
    commit_files(work / "wordkit", {"tests/test_waits.py": waits}, "waits", when=1_600_000_100)
    return write_specs(work / "specs.py", specs)


def test_a_killed_ray_driver_resumes_build_pairs_without_running_again_what_it_took_back(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    """textkit is taken back (all its pairs published) while wordkit's runner waits; the
    driver is SIGKILLed; the file is made, and --resume on Ray finishes with textkit's item
    logs untouched, and every shared file as a local undisturbed run writes it."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    specs = two_specs(tmp_path, str(cache / RELEASE))
    options = ("--jobs", "2", "--debug", NO_STAGE_CACHE)
    common = (*options, "--cache-dir", str(cache), *on_ray(ray_cluster))
    command = fbench("build-pairs", "--config-path", str(specs), "--output-dir", str(out))
    kill_when_logged(
        [*command, *common], tmp_path / "first.log", (out, "[0-9]*/*/pipeline.log"), TAKEN_BACK
    )
    (run,) = out.glob("[0-9]*/*")
    before = stamps(run, "SPECS_TEXTKIT")
    assert "SPECS_WORDKIT: ran on Ray node" not in (run / "pipeline.log").read_text()
    taken = (run / "final_dataset" / "stats.json").read_text()  # as the driver published it
    assert "SPECS_TEXTKIT" in taken
    assert "SPECS_WORDKIT" not in taken
    for home in cache.glob(RELEASE.parent.as_posix()):
        (home / RELEASE.name).touch()
    resume("build-pairs", run, *common)
    assert stamps(run, "SPECS_TEXTKIT") == before  # none of textkit's items ran again
    assert stamps(run, "SPECS_WORDKIT")  # the slow spec ran, to its end
    undisturbed = Project(tmp_path, specs, cache).build_pairs("local", *options)
    assert shared_files(run) == shared_files(undisturbed)
