"""The records module: the format shared by the plugin and the orchestrator."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_featurebench import records as rec


def test_records_round_trip_with_their_type_tag(tmp_path: Path) -> None:
    """Every record kind survives encoding and decoding, tag included."""
    written = [
        rec.SessionStart(
            format_version=rec.FORMAT_VERSION, python="3.11.7", pytest="9.0", rootdir="/r"
        ),
        rec.CollectedItem(
            nodeid="t.py::a[1]", file="t.py", line=3, markers=["slow"], params={"x": "1"}
        ),
        rec.CollectError(nodeid="u.py", file="u.py", message="ImportError: nope"),
        rec.PhaseReport(
            nodeid="t.py::a[1]", phase="call", outcome="failed", duration=0.5, summary="boom"
        ),
        rec.CallTrace(nodeid="t.py::a[1]", calls=[rec.Call("p.py", "A.f", 3, 1)]),
        rec.ImportTrace(calls=[rec.Call("p.py", "deco", 1, 1)], worker="gw1"),
        rec.SessionEnd(exitstatus=1, counts={"failed": 1}),
    ]
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"".join(rec.encode(r) for r in written))
    assert rec.read_records([path]) == written
    assert b'"type":"trace"' in path.read_bytes()


def test_a_line_cut_short_by_a_kill_is_skipped(tmp_path: Path) -> None:
    """A run killed mid-write leaves a last line without newline; readers skip it."""
    path = tmp_path / "r.jsonl"
    whole = rec.encode(rec.SessionEnd(exitstatus=0))
    path.write_bytes(whole + whole[:10])
    assert rec.read_records([path]) == [rec.SessionEnd(exitstatus=0)]


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    """An unreadable line is an error that says where it is."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(rec.encode(rec.SessionEnd(exitstatus=0)) + b'{"type": "nonsense"}\n')
    with pytest.raises(rec.RecordsError, match=r"r\.jsonl:2: not a featurebench record"):
        rec.read_records([path])


def test_records_from_a_newer_format_are_refused(tmp_path: Path) -> None:
    """A reader never guesses at a format newer than its own."""
    path = tmp_path / "r.jsonl"
    start = rec.SessionStart(
        format_version=rec.FORMAT_VERSION + 1, python="3", pytest="9", rootdir="/"
    )
    path.write_bytes(rec.encode(start))
    with pytest.raises(rec.RecordsError, match="newer than this reader"):
        rec.read_records([path])


def test_call_keys_tell_same_named_functions_apart() -> None:
    """The identity of a function includes its path, qualname and first line."""
    keys = {
        rec.Call("a.py", "A.run", 3, 1).key,
        rec.Call("a.py", "B.run", 7, 1).key,
        rec.Call("a.py", "f", 10, 1).key,
        rec.Call("a.py", "f", 20, 1).key,
        rec.Call("b.py", "f", 10, 1).key,
    }
    assert len(keys) == 5
