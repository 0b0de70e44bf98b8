"""Files follow the umask, cache entries keep their order, kills leave nothing behind for long."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestrator.extract.worktrees import scratch_dir
from orchestrator.pipeline.storage import UMASK, ResultCache, write_atomic

DEAD_PID = 2**22 + 1  # above PID_MAX_LIMIT, the most pids Linux allows: never alive


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_files_and_scratch_directories_follow_the_umask(tmp_path: Path) -> None:
    """0644 and 0755 under umask 022, not mkstemp's and mkdtemp's 0600 and 0700."""
    write_atomic(tmp_path / "a" / "file.json", b"{}")
    assert mode(tmp_path / "a" / "file.json") == 0o666 & ~UMASK
    with scratch_dir(tmp_path / "scratch", "data-") as scratch:
        assert mode(scratch) == 0o777 & ~UMASK


def test_a_cache_entry_keeps_the_order_of_its_keys(tmp_path: Path) -> None:
    """A case rebuilt from the cache writes config.yaml in the order it was made."""
    cache = ResultCache(tmp_path)
    cache.put("data", "ab" * 32, {"zeta": 1, "alpha": {"y": 2, "b": 3}})
    found = cache.get("data", "ab" * 32)
    assert list(found) == ["zeta", "alpha"]
    assert list(found["alpha"]) == ["y", "b"]


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    """A kill's ``.tmp`` goes; one a running writer (here, us) is still writing stays."""
    cache = ResultCache(tmp_path)
    folder = cache.path("runner", "cd" * 32).parent
    folder.mkdir(parents=True)
    dead = folder / f".{'cd' * 32}.json.{DEAD_PID}.x1y2.tmp"
    live = folder / f".{'cd' * 32}.json.{os.getpid()}.z3w4.tmp"
    dead.write_text("half")
    live.write_text("half")
    assert cache.remove_stale_temporaries() == 1
    assert not dead.exists()
    assert live.exists()


def test_scratch_copies_of_a_killed_process_are_removed_by_the_next(tmp_path: Path) -> None:
    """A killed eval's ``eval-<pid>-*`` copy goes when the next eval makes its own."""
    orphan = tmp_path / f"eval-{DEAD_PID}-abc"
    (orphan / "repo").mkdir(parents=True)
    mine = tmp_path / f"eval-{os.getpid()}-def"
    mine.mkdir()
    with scratch_dir(tmp_path, "eval-") as scratch:
        assert scratch.name.startswith(f"eval-{os.getpid()}-")
        assert not orphan.exists()
        assert mine.exists()
