"""Probes forked from a warm worker: inside the sandbox, nothing carried from one to the next.

A real uv environment with pytest and a small project; two trees of one scratch
directory, served by one worker. The first probe's tests leave everything they
can behind (files in /tmp, HOME and /dev/shm, a process still running, a
variable, an attribute on an already imported module, a write beside its own
tree); the second probe's tests look for each of them.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.environments.local import LocalEnvironment
from orchestrator.pipeline import warm_probes
from orchestrator.pipeline.pytest_runs import PytestRun, run_pytest
from tests.support.projects import installed_environment, write_tree

LEAVE = """
import os, subprocess, sys
import pytest

def test_leave_traces():
    for place in ("/tmp", os.environ["HOME"], "/dev/shm"):
        with open(os.path.join(place, "left-behind"), "w") as handle:
            handle.write("x")
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    os.environ["LEFT_BEHIND"] = "1"
    pytest.left_behind = True
    sys.modules["left_behind"] = sys

def test_sees_only_its_own_tree():
    here = os.getcwd()
    sibling = os.path.join(os.path.dirname(here), "second")
    assert not os.path.exists(sibling)
    with open("written-here", "w") as handle:
        handle.write("mine")
"""

FIND = """
import os
import pytest

@pytest.mark.parametrize("place", ["/tmp", os.environ["HOME"], "/dev/shm"])
def test_no_file_left(place):
    assert not os.path.exists(os.path.join(place, "left-behind"))

def test_no_process_left():
    names = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with open(f"/proc/{pid}/comm") as handle:
                names.append(handle.read().strip())
    assert "sleep" not in names, names

def test_no_state_left():
    import sys
    assert "LEFT_BEHIND" not in os.environ
    assert not hasattr(pytest, "left_behind")
    assert "left_behind" not in sys.modules

def test_the_worker_and_the_cache_are_out_of_sight():
    for pid in os.listdir("/proc"):  # a fork shows the worker's command line as its own
        if pid.isdigit() and int(pid) != os.getpid():
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                assert b"fbench-warm-" not in handle.read()
    assert not os.path.exists(HIDDEN)

def test_nothing_from_the_first_tree():
    assert not os.path.exists(os.path.join(os.path.dirname(os.getcwd()), "first"))
    assert not os.path.exists("written-here")
"""

SLOW = """
import time

def test_slow():
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> LocalEnvironment:
    work = tmp_path_factory.mktemp("warm-env")
    project = write_tree(
        work / "project",
        {
            "pyproject.toml": '[project]\nname = "leaky"\nversion = "1"\n',
            "leaky/__init__.py": "VALUE = 1\n",
        },
    )
    return installed_environment(project, work, "warm-probes")


@pytest.fixture
def scratch(environment: LocalEnvironment) -> Iterator[Path]:
    """Trees where the data stage keeps its own, so that one worker serves them all."""
    (base := Path(tempfile.gettempdir()) / "featurebench").mkdir(exist_ok=True)
    run = Path(tempfile.mkdtemp(dir=base))
    root = run / "data-scratch"
    find = f"{FIND}\nHIDDEN = {str(environment.wheels)!r}\n"  # the cache's plugin wheels
    assert environment.wheels.is_dir()
    for name, text in (("first", LEAVE), ("second", find), ("third", SLOW)):
        write_tree(root / name, {"test_it.py": text})
    assert warm_probes.scope(root / "first") == warm_probes.scope(root / "second") == run
    yield root
    warm_probes.close_all()
    shutil.rmtree(run)


def probe(env: LocalEnvironment, tree: Path, logs: Path, timeout: float = 300) -> PytestRun:
    return run_pytest(
        env,
        ["pytest", "-q", "-p", "no:cacheprovider", "test_it.py"],
        repo=tree,
        records=logs / f"{tree.name}.jsonl",
        timeout=timeout,
        log=logs / f"{tree.name}.log",
        pythonpath=["."],
        warm=True,
    )


def test_nothing_a_probe_does_reaches_the_next(
    environment: LocalEnvironment, scratch: Path, tmp_path: Path
) -> None:
    first = probe(environment, scratch / "first", tmp_path / "logs")
    assert "$ warm-probe " in (tmp_path / "logs" / "first.log").read_text()  # the warm path ran
    assert set(first.outcomes().values()) == {"passed"}, first.result.output
    assert (scratch / "first" / "written-here").read_text() == "mine"  # its own tree: kept
    second = probe(environment, scratch / "second", tmp_path / "logs")
    assert "$ warm-probe " in (tmp_path / "logs" / "second.log").read_text()
    assert len(second.outcomes()) == 7
    assert set(second.outcomes().values()) == {"passed"}, second.result.output
    assert not (scratch / "second" / "written-here").exists()


def test_a_probe_past_its_timeout_is_killed_and_the_next_runs(
    environment: LocalEnvironment, scratch: Path, tmp_path: Path
) -> None:
    slow = probe(environment, scratch / "third", tmp_path / "logs", timeout=5)
    assert slow.result.timed_out
    assert not slow.complete
    again = probe(environment, scratch / "second", tmp_path / "logs")
    assert set(again.outcomes().values()) == {"passed"}, again.result.output


def test_switched_off_every_probe_starts_cold(
    environment: LocalEnvironment, scratch: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(warm_probes.SWITCH, "0")
    run = probe(environment, scratch / "second", tmp_path / "logs")
    assert "$ warm-probe " not in (tmp_path / "logs" / "second.log").read_text()
    assert set(run.outcomes().values()) == {"passed"}, run.result.output


def test_a_worker_whose_thread_ended_stops_at_the_next_start(
    environment: LocalEnvironment, scratch: Path, tmp_path: Path
) -> None:
    thread = threading.Thread(target=probe, args=(environment, scratch / "second", tmp_path))
    thread.start()
    thread.join()
    (orphan,) = warm_probes.running()
    assert orphan.outbox.exists()
    probe(environment, scratch / "second", tmp_path / "logs")
    assert orphan not in warm_probes.running()
    assert not orphan.outbox.exists()
