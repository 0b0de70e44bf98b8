"""pytest entry point: ``pytest -p featurebench --fb-out records.jsonl [--fb-trace]``.

Nothing happens unless an ``--fb-*`` option is given: the recorder is only
created and registered when ``--fb-out`` is.
"""

from __future__ import annotations

import os
from argparse import Namespace
from typing import List  # noqa: UP035 - the plugin runs on Python 3.9+

import pytest

from pytest_featurebench.recorder import Recorder
from pytest_featurebench.scope import ProjectScope, default_test_globs
from pytest_featurebench.timeout import timeout_plugin, timeout_seconds
from pytest_featurebench.tracing import TRACER_NAMES, Tracer, make_tracer, resolve_tracer_name

recorder_key = pytest.StashKey[Recorder]()
tracer_key = pytest.StashKey[Tracer]()


def _tracer_name(value: str) -> str:
    if value not in TRACER_NAMES:
        raise pytest.UsageError(
            f"--fb-tracer: unknown tracer {value!r}; choose one of {', '.join(TRACER_NAMES)}"
        )
    import sys

    if value == "monitoring" and sys.version_info < (3, 12):
        raise pytest.UsageError(
            f"--fb-tracer monitoring needs Python 3.12+ (sys.monitoring); this is"
            f" {sys.version.split()[0]}: use --fb-tracer auto, rewrite or profile"
        )
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("featurebench", "featurebench records and call traces")
    group.addoption(
        "--fb-out",
        metavar="PATH",
        default=None,
        help="Write one featurebench record per line to PATH (JSON lines).",
    )
    group.addoption(
        "--fb-trace",
        action="store_true",
        default=False,
        help="Record the project functions each test runs, with call depth (needs --fb-out).",
    )
    group.addoption(
        "--fb-trace-root",
        action="append",
        default=[],
        metavar="DIR",
        help="Directory of project code to trace; repeatable (default: rootdir).",
    )
    group.addoption(
        "--fb-tracer",
        default=None,
        type=_tracer_name,
        help="Tracer backend: auto (default), monitoring (3.12+) or profile.",
    )
    group.addoption(
        "--fb-timeout",
        metavar="SECONDS",
        default=None,
        type=timeout_seconds,
        help="Fail a test whose setup, call and teardown run longer than SECONDS.",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # The tracer, and so the rewrite backend's import hook, must exist before
    # the first conftest imports the project: a module loaded earlier only gets
    # its functions' code swapped. Options are parsed by now, though not yet
    # in config.option.
    options = early_config.known_args_namespace
    if getattr(options, "fb_trace", False) and getattr(options, "fb_out", None) is not None:
        _check_dependent_options(options)
        early_config.stash[tracer_key] = _make_tracer(early_config, options)


def pytest_configure(config: pytest.Config) -> None:
    seconds = config.getoption("fb_timeout")
    if seconds is not None:
        config.pluginmanager.register(timeout_plugin(config, seconds), "featurebench-timeout")
    out: str | None = config.getoption("fb_out")
    _check_dependent_options(config.option)
    if out is None:
        return
    if not hasattr(config, "workerinput"):  # xdist workers write parts beside it
        out = _writable_path(out)
        config.option.fb_out = out  # absolute, so xdist workers agree on it
    tracer = config.stash.get(tracer_key, None)
    if tracer is None and config.option.fb_trace:  # registered after the initial conftests
        tracer = _make_tracer(config, config.option)
    recorder = Recorder(config, out, tracer)
    config.stash[recorder_key] = recorder
    config.pluginmanager.register(recorder, "featurebench-recorder")


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(recorder_key, None)
    if recorder is not None:
        recorder.close()
        config.pluginmanager.unregister(recorder)
        del config.stash[recorder_key]


def _check_dependent_options(options: Namespace) -> None:
    tracing_options = {"--fb-trace-root": options.fb_trace_root, "--fb-tracer": options.fb_tracer}
    for name, value in tracing_options.items():
        if value and not options.fb_trace:
            raise pytest.UsageError(f"{name} only applies with --fb-trace; add --fb-trace")
    if options.fb_out is None and options.fb_trace:
        raise pytest.UsageError("--fb-trace needs --fb-out PATH to write its records to")


def _writable_path(out: str) -> str:
    path = os.path.abspath(out)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb"):
            pass
    except OSError as exc:
        raise pytest.UsageError(f"--fb-out {out}: cannot write there ({exc.strerror})") from None
    return path


def _make_tracer(config: pytest.Config, options: Namespace) -> Tracer:
    roots: List[str] = options.fb_trace_root or [str(config.rootpath)]  # noqa: UP006
    for root in roots:
        if not os.path.isdir(root):
            raise pytest.UsageError(f"--fb-trace-root {root}: not a directory")
    python_files = config.getini("python_files")
    scope = ProjectScope(str(config.rootpath), roots, default_test_globs(python_files))
    name = resolve_tracer_name(options.fb_tracer or "auto")
    try:
        return make_tracer(name, scope)
    except RuntimeError as exc:  # every sys.monitoring tool id is taken
        raise pytest.UsageError(f"--fb-tracer {name}: {exc}") from None
