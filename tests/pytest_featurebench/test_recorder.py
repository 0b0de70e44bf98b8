"""The records a run writes: collection, outcomes, durations and the session."""

from __future__ import annotations

import pytest

from pytest_featurebench import records as rec
from tests.conftest import Inner

OUTCOMES_MODULE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_pass():
    pass

def test_fail():
    assert 1 + 1 == 3, "arithmetic"

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass

def test_setup_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass

@pytest.mark.slow
@pytest.mark.parametrize("n, word", [(1, "one"), (2, "two")])
def test_param(n, word):
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow tests\n")
    pytester.makepyfile(test_outcomes=OUTCOMES_MODULE)
    return pytester


def test_every_phase_has_its_outcome_and_summary(project: pytest.Pytester, inner311: Inner) -> None:
    """passed, failed, skipped, xfailed, xpassed and error each come out as such."""
    done = inner311.run(project.path, "-W", "error")
    phases = {(r.nodeid.split("::")[1], r.phase): r for r in done.of_type(rec.PhaseReport)}
    assert phases["test_pass", "call"].outcome == "passed"
    assert phases["test_fail", "call"].outcome == "failed"
    assert "arithmetic" in phases["test_fail", "call"].summary
    assert phases["test_skip", "setup"].outcome == "skipped"
    assert phases["test_skip", "setup"].summary == "not today"
    assert phases["test_xfail", "call"].outcome == "xfailed"
    assert phases["test_xfail", "call"].summary == "known bug"
    assert phases["test_xpass", "call"].outcome == "xpassed"
    assert phases["test_setup_error", "setup"].outcome == "error"
    assert "fixture broke" in phases["test_setup_error", "setup"].summary
    assert phases["test_teardown_error", "teardown"].outcome == "error"
    assert all(r.duration >= 0 for r in phases.values())


def test_session_records_frame_the_run(project: pytest.Pytester, inner311: Inner) -> None:
    """The run starts with versions and rootdir and ends with exit status and counts."""
    done = inner311.run(project.path, "-W", "error")
    start, end = done.records[0], done.records[-1]
    assert isinstance(start, rec.SessionStart)
    assert start.format_version == rec.FORMAT_VERSION
    assert start.rootdir == str(project.path)
    assert start.pytest == pytest.__version__
    assert isinstance(end, rec.SessionEnd)
    assert end.exitstatus == done.result.returncode == 1
    assert end.counts == {
        "passed": 4,
        "failed": 1,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "error": 2,
    }


def test_session_end_carries_the_process_cpu_at_start_collection_and_end(
    pytester: pytest.Pytester, inner311: Inner
) -> None:
    """The profile's split: a test that burns CPU shows between collection and the end."""
    pytester.makepyfile(
        test_burn="import time\n\ndef test_burn():\n"
        "    end = time.process_time() + 0.3\n    while time.process_time() < end:\n        pass\n"
    )
    done = inner311.run(pytester.path)
    end = done.records[-1]
    assert isinstance(end, rec.SessionEnd)
    started, collected, ended = end.cpu
    assert 0 < started <= collected
    assert ended - collected >= 0.3


def test_collect_only_records_items_with_markers_and_params(
    project: pytest.Pytester, inner311: Inner
) -> None:
    """``--collect-only`` records the collection alone: items, no phases."""
    done = inner311.run(project.path, "--collect-only", "-q")
    items = {r.nodeid: r for r in done.of_type(rec.CollectedItem)}
    assert len(items) == 9
    param = items["test_outcomes.py::test_param[2-two]"]
    assert param.file == "test_outcomes.py"
    # Like the code object's first line, pytest's location starts at the first decorator.
    lines = (project.path / "test_outcomes.py").read_text().splitlines()
    assert param.line == lines.index("@pytest.mark.slow") + 1
    assert param.markers == ["parametrize", "slow"]
    assert param.params == {"n": "2", "word": "'two'"}
    assert not done.of_type(rec.PhaseReport)
    assert isinstance(done.records[-1], rec.SessionEnd)


def test_collection_errors_name_file_and_message(
    pytester: pytest.Pytester, inner311: Inner
) -> None:
    """A module that fails to import is a collection error record, not a crash."""
    pytester.makepyfile(
        test_good="def test_ok():\n    pass\n", test_bad="import no_such_module_here\n"
    )
    done = inner311.run(pytester.path)
    (error,) = done.of_type(rec.CollectError)
    assert error.file == "test_bad.py"
    assert "No module named 'no_such_module_here'" in error.message


def test_records_are_flushed_as_they_are_written(
    pytester: pytest.Pytester, inner311: Inner
) -> None:
    """A test can read the records of the tests before it: nothing waits in a buffer."""
    pytester.makepyfile(
        test_flush="""
        import json, os

        def test_first():
            pass

        def test_second():
            with open(os.environ["FB_OUT"]) as f:
                seen = [json.loads(line) for line in f]
            first = [r for r in seen if r["type"] == "phase" and r["nodeid"].endswith("test_first")]
            assert [r["phase"] for r in first] == ["setup", "call", "teardown"]
        """
    )
    done = inner311.run(pytester.path, env={"FB_OUT": str(pytester.path / "records.jsonl")})
    assert done.result.returncode == 0, done.result.stdout


def test_the_plugin_emits_no_warnings(project: pytest.Pytester, inner311: Inner) -> None:
    """With ``-W error`` and tracing on, the run's only failures are the suite's own."""
    done = inner311.trace(project.path)
    assert "Warning" not in done.result.stdout
    assert isinstance(done.records[-1], rec.SessionEnd)
    assert done.records[-1].counts["passed"] == 4


def test_fb_timeout_fails_the_slow_test_and_goes_on(
    pytester: pytest.Pytester, inner311: Inner
) -> None:
    """``--fb-timeout`` cuts a hanging test short as a failure; the next test still runs."""
    pytester.makepyfile(
        test_slow="""
        import time

        def test_hangs():
            time.sleep(60)

        def test_after():
            pass
        """
    )
    done = inner311.run(pytester.path, "--fb-timeout", "0.5")
    calls = {r.nodeid: r for r in done.of_type(rec.PhaseReport) if r.phase == "call"}
    assert calls["test_slow.py::test_hangs"].outcome == "failed"
    assert "ran longer than 0.5s" in calls["test_slow.py::test_hangs"].summary
    assert calls["test_slow.py::test_after"].outcome == "passed"


def test_fb_timeout_needs_a_positive_number(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "featurebench", "--fb-timeout", "soon")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--fb-timeout soon: expected a number of seconds > 0" in result.stderr.str()


def test_the_summary_says_where_the_records_went(project: pytest.Pytester, inner311: Inner) -> None:
    """One line of pytest's terminal summary gives the output path and its number of records."""
    done = inner311.run(project.path, "-W", "error")
    path = project.path / "records.jsonl"
    assert f"featurebench: {len(done.records)} records written to {path}" in done.result.stdout
    plain = inner311.run(project.path, "-W", "error", out="")
    assert "featurebench:" not in plain.result.stdout
