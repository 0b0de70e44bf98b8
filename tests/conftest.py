"""Shared fixtures: inner pytest runs of the plugin under each tracer backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_featurebench import records as rec
from tests.support.interpreters import build_cpython, make_plugin_venv


@dataclass
class InnerRun:
    """The outcome of one inner pytest run: its process result and its records."""

    result: subprocess.CompletedProcess[str]
    records: list[rec.AnyRecord] = field(default_factory=list)

    def of_type(self, kind: type[rec.Record]) -> list[rec.AnyRecord]:
        return [r for r in self.records if isinstance(r, kind)]

    def traces(self) -> dict[str, dict[str, int]]:
        """nodeid -> {"path::qualname:line": depth}."""
        return {
            t.nodeid: {c.key: c.depth for c in t.calls}
            for t in self.records
            if isinstance(t, rec.CallTrace)
        }

    def import_time(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for record in self.records:
            if isinstance(record, rec.ImportTrace):
                for call in record.calls:
                    found[call.key] = min(call.depth, found.get(call.key, call.depth))
        return found


@dataclass
class Inner:
    """Runs pytest with the plugin in a subprocess under one interpreter."""

    python: Path
    tracer: str

    def run(
        self, cwd: Path, *args: str, out: str = "records.jsonl", env: dict[str, str] | None = None
    ) -> InnerRun:
        # Autoloading is off so that plugins of the outer environment stay out;
        # ``-p featurebench`` then loads ours through its entry point name.
        command = [str(self.python), "-m", "pytest", "-p", "featurebench", "-p", "no:cacheprovider"]
        command += ["--fb-out", out, *args] if out else list(args)
        full_env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
        full_env.pop("PYTEST_ADDOPTS", None)
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, env=full_env, timeout=600, check=False
        )
        out_path = cwd / out if out else None
        records = rec.read_records([out_path]) if out_path and out_path.exists() else []
        return InnerRun(result, records)

    def trace(self, cwd: Path, *args: str, **kwargs: object) -> InnerRun:
        return self.run(
            cwd, "--fb-trace", "--fb-tracer", self.tracer, "-W", "error", *args, **kwargs
        )  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def python313(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python 3.13 with the plugin installed (CPython built from source)."""
    return make_plugin_venv(build_cpython("3.13"), tmp_path_factory.mktemp("venv313"))


@pytest.fixture(scope="session")
def python39(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python 3.9 with the plugin installed (CPython built from source)."""
    return make_plugin_venv(build_cpython("3.9"), tmp_path_factory.mktemp("venv39"))


@pytest.fixture(
    params=[
        "profile",
        "rewrite",
        pytest.param("rewrite-3.9", marks=pytest.mark.py39),
        pytest.param("monitoring", marks=pytest.mark.py313),
    ]
)
def inner(request: pytest.FixtureRequest) -> Iterator[Inner]:
    """The plugin under each backend: profile and rewrite on 3.11, rewrite on 3.9, monitoring on 3.13."""
    if request.param == "monitoring":
        yield Inner(request.getfixturevalue("python313"), "monitoring")
    elif request.param == "rewrite-3.9":
        yield Inner(request.getfixturevalue("python39"), "rewrite")
    else:
        yield Inner(Path(sys.executable), request.param)


@pytest.fixture
def inner311() -> Inner:
    """The plugin under this interpreter, for behaviour that does not depend on the tracer."""
    return Inner(Path(sys.executable), "profile")
