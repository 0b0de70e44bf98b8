"""Option handling: the plugin is inert unless asked, and bad options are usage errors."""

from __future__ import annotations

import sys

import pytest

from pytest_featurebench import records as rec
from tests.conftest import Inner


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_one="def test_one():\n    assert True\n")
    return pytester


def test_without_options_the_plugin_writes_nothing(
    project: pytest.Pytester, inner311: Inner
) -> None:
    """No ``--fb-*`` option: no recorder, no file, no change to the run."""
    done = inner311.run(project.path, "-W", "error", out="")
    assert done.result.returncode == 0, done.result.stdout
    written = {p.name for p in project.path.iterdir()} - {"__pycache__"}  # pytest's own .pyc
    assert written == {"test_one.py"}


def test_without_options_no_recorder_is_registered(project: pytest.Pytester) -> None:
    """The recorder object exists only when ``--fb-out`` is given."""
    config = project.parseconfigure("-p", "featurebench")
    assert config.pluginmanager.get_plugin("featurebench-recorder") is None
    config = project.parseconfigure("-p", "featurebench", "--fb-out", "r.jsonl")
    assert config.pluginmanager.get_plugin("featurebench-recorder") is not None
    config._ensure_unconfigure()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fb-trace"], "--fb-trace needs --fb-out PATH"),
        (
            ["--fb-out", "r.jsonl", "--fb-tracer", "profile"],
            "--fb-tracer only applies with --fb-trace",
        ),
        (
            ["--fb-out", "r.jsonl", "--fb-trace-root", "."],
            "--fb-trace-root only applies with --fb-trace",
        ),
        (["--fb-out", "r.jsonl", "--fb-trace", "--fb-tracer", "fast"], "unknown tracer 'fast'"),
        (
            ["--fb-out", "r.jsonl", "--fb-trace", "--fb-trace-root", "nowhere"],
            "nowhere: not a directory",
        ),
        (
            ["--fb-out", "/proc/featurebench/r.jsonl"],
            "--fb-out /proc/featurebench/r.jsonl: cannot write",
        ),
    ],
)
def test_bad_options_are_usage_errors(
    project: pytest.Pytester, args: list[str], message: str
) -> None:
    """Each bad combination stops pytest with a message that names the problem."""
    result = project.runpytest_subprocess("-p", "featurebench", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="sys.monitoring exists from 3.12 on")
def test_monitoring_before_312_is_a_usage_error(project: pytest.Pytester) -> None:
    """Asking for sys.monitoring where it does not exist says which Python it needs."""
    result = project.runpytest_subprocess(
        "-p", "featurebench", "--fb-out", "r", "--fb-trace", "--fb-tracer", "monitoring"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--fb-tracer monitoring needs Python 3.12+" in result.stderr.str()


def test_options_live_in_one_help_group(project: pytest.Pytester) -> None:
    """``pytest --help`` lists every option under the featurebench group."""
    result = project.runpytest_subprocess("-p", "featurebench", "--help")
    text = result.stdout.str()
    group = text[text.index("featurebench records and call traces") :]
    for option in ("--fb-out", "--fb-trace ", "--fb-trace-root", "--fb-tracer"):
        assert option in group


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="the 3.13 runs cover auto there")
def test_auto_is_the_rewrite_backend_before_312(project: pytest.Pytester, inner311: Inner) -> None:
    """Without ``--fb-tracer``, Python before 3.12 traces with the rewriting import hook."""
    done = inner311.run(project.path, "--fb-trace", "-W", "error")
    assert done.result.returncode == 0, done.result.stdout
    start = done.records[0]
    assert isinstance(start, rec.SessionStart)
    assert start.tracer == "rewrite"
