"""``fbench build-pairs --executor ray`` on the real two-node cluster: the pairs, the files
of every spec's rows and the LLM's token counts are those of ``--executor local``."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orchestrator.pairs.run import CACHED
from tests.orchestrator.executors.runs import no_stage_cache
from tests.orchestrator.pairs.test_build_pairs_llm import (
    KEY,
    KEY_VARIABLE,
    RESPONSES,
    llm_config,
    scripted,
)
from tests.orchestrator.pairs.text_project import Project, make_text_project
from tests.support.llm_server import Server, serve
from tests.support.raycluster import RayCluster

# The files of every spec's rows that a worker writes with its own spec's alone.
SHARED_FILES = (
    "seed_output/filtered_functions.jsonl",
    "seed_output/stats.json",
    "self_oss_output/concepts.jsonl",
    "self_oss_output/instructions.jsonl",
    "self_oss_output/responses.jsonl",
    "validation_output/results.jsonl",
    "validation_output/validation_stats.json",
    "final_dataset/instruction_dataset.jsonl",
    "final_dataset/stats.json",
)
NO_STAGE_CACHE = no_stage_cache(CACHED)
KITS = ("textkit", "wordkit")
# What the client counts the same whatever the order of the requests (the loopback
# server's prompt cache keeps one prompt, so cached_prompt_tokens depends on the order).
COUNTED = ("calls", "attempts", "cache_hits", "failures", "prompt_tokens", "completion_tokens")


@pytest.fixture(scope="module")
def twokit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two specs, each a textkit repository of its own: two specs' rows in each file."""
    root = tmp_path_factory.mktemp("twokit")
    specs = {}
    for name in KITS:
        make_text_project(root / name)
        specs[f"SPECS_{name.upper()}"] = {
            "repository": str(root / name),
            "pip_packages": ["pytest"],
        }
    (root / "specs.py").write_text("".join(f"{k} = {v!r}\n" for k, v in specs.items()))
    return root


def pairs_run(twokit: Path, name: str, *args: str) -> Path:
    """A build-pairs run into ``twokit/name``; every run shares one cache."""
    return Project(twokit, twokit / "specs.py", twokit / "cache").build_pairs(name, *args)


def on_ray(cluster: RayCluster) -> tuple[str, ...]:
    return ("--executor", "ray", "--ray-address", cluster.address)


def shared_files(run: Path) -> dict[str, bytes]:
    found = {name: (run / name).read_bytes() for name in SHARED_FILES}
    assert b"SPECS_WORDKIT" in found["seed_output/stats.json"]
    assert b"SPECS_TEXTKIT" in found["seed_output/stats.json"]
    return found


def pair_rows(run: Path) -> bytes:
    return (run / "final_dataset" / "instruction_dataset.jsonl").read_bytes()


def report(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "metadata_outputs" / "pairs_report.json").read_text())
    return data


# Which specs' rows each shared file of a run holds at each of its writes, in order.
Writes = dict[str, list[set[str]]]


@pytest.fixture(scope="module")
def offline(twokit: Path, ray_cluster: RayCluster) -> tuple[Path, Path, Writes]:
    """A local run, then a Ray run with every stage's cache off: the Ray tasks make all
    of it again, but the environments (cached apart from the stages). The Ray run's
    driver is this process: each of its writes of a shared file is seen as it lands."""
    local = pairs_run(twokit, "local")
    with seen_writes(twokit, twokit / "ray") as writes:
        ray = pairs_run(twokit, "ray", "--debug", NO_STAGE_CACHE, *on_ray(ray_cluster))
    return local, ray, writes


@contextmanager
def seen_writes(twokit: Path, output: Path) -> Iterator[Writes]:
    """Every write of a shared file under ``output`` is atomic, a rename into place: the
    rename is watched, and the file's content is read as it lands. A spec's rows are
    known by its name, or by its repository (a dataset row names only that)."""
    writes: Writes = {}
    marks = {f"SPECS_{n.upper()}": json.dumps(str(twokit / n)) for n in KITS}
    rename = os.replace

    def watched(source: Any, target: Any, **options: Any) -> None:
        path = Path(os.fsdecode(target))
        name = "/".join(path.parts[-2:])
        if path.is_relative_to(output) and name in SHARED_FILES:
            text = Path(os.fsdecode(source)).read_text()
            writes.setdefault(name, []).append(
                {spec for spec, repo in marks.items() if spec in text or repo in text}
            )
        rename(source, target, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", watched)
        yield writes


def test_ray_makes_the_pairs_local_makes(offline: tuple[Path, Path, Writes]) -> None:
    local, ray, _ = offline
    assert shared_files(ray) == shared_files(local)
    assert report(ray)["funnel"] == report(local)["funnel"]
    assert report(ray)["funnel"]["final"] == 10  # both specs' five seeds made pairs
    assert len(ray_nodes_of(ray)) == 2


def test_each_shared_file_is_written_once_per_spec_with_every_spec_so_far(
    offline: tuple[Path, Path, Writes],
) -> None:
    """The driver writes each shared file once as each spec comes back, with the rows of
    every spec back so far: never a worker's copy, which holds its own spec's rows alone."""
    writes = offline[2]
    assert set(writes) == set(SHARED_FILES)
    for name, held in writes.items():
        assert len(held) == 2, (name, held)
        assert len(held[0]) == 1, (name, held)
        assert held[0] < held[1] == {f"SPECS_{n.upper()}" for n in KITS}, name


def ray_nodes_of(run: Path) -> set[str]:
    return set(re.findall(r"ran on Ray node (\w+)", (run / "pipeline.log").read_text()))


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as running:
        running.answer = scripted(RESPONSES)
        yield running


def test_the_workers_llm_tokens_reach_the_driver(
    twokit: Path,
    offline: tuple[Path, Path, Writes],
    ray_cluster: RayCluster,
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """LLM mode on Ray: the requests the workers send are counted in the driver's report
    and summary as a local run counts its own; the key reaches them in no file. Each run
    takes the stages before instruct from the local offline run's cache; the Ray run
    asks at another temperature (the loopback model answers the same), so its
    requests are not in the cache either: each run makes every request."""
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    config = str(llm_config(tmp_path / "config.toml", server.url))
    other = str(llm_config(tmp_path / "other.toml", server.url, "temperature = 0.3\n"))
    # One spec: two with the same functions would share answers through the cache, as
    # the timing of their requests has it.
    one = ("--debug-repo", "SPECS_TEXTKIT")
    local = pairs_run(twokit, "llm-local", "--global-config-path", config, *one)
    sent = len(server.completions())
    ray = pairs_run(twokit, "llm-ray", "--global-config-path", other, *one, *on_ray(ray_cluster))
    assert len(server.completions()) == 2 * sent  # the workers asked every question again
    spent, expected = report(ray)["llm"], report(local)["llm"]
    assert {k: spent[k] for k in COUNTED} == {k: expected[k] for k in COUNTED}
    assert spent["calls"] == sent > 0
    assert spent["prompt_tokens"] > 0
    assert spent["completion_tokens"] > 0
    assert spent["cost"] == pytest.approx(expected["cost"])
    assert pair_rows(ray) == pair_rows(local)
    tokens = f"{spent['prompt_tokens']} prompt and {spent['completion_tokens']} completion tokens"
    assert tokens in (ray / "pipeline_report.md").read_text()
    assert list((ray / "logs" / "llm_api_calls").glob("*.json"))  # the workers' call logs
    cluster = ray_cluster.head.folder.parent  # both nodes' logs and session files
    for path in [*tmp_path.rglob("*"), *twokit.rglob("*"), *cluster.rglob("*")]:
        if path.is_file() and not path.is_symlink() and path.parent != tmp_path:
            assert KEY.encode() not in path.read_bytes(), path
