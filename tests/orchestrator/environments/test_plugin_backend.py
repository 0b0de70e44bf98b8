"""A third-party package adds an environment backend by declaring one entry point.

The package is built and installed for real into a fresh virtualenv that sees
featurebench; there, ``fbench plugins`` lists the backend and a spec that names
it in ``env_manager`` gets it from ``make_environment``.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

from orchestrator.environments import make_environment
from orchestrator.pipeline.specs import RepoSpec
from tests.support.contexts import scratch_context

PYPROJECT = """\
[build-system]
requires = ["flit_core>=3.4"]
build-backend = "flit_core.buildapi"

[project]
name = "fbench-scratch"
version = "1.2"
description = "A featurebench environment backend from elsewhere"

[tool.flit.module]
name = "fbench_scratch"

[project.entry-points."featurebench.environments"]
scratch = "fbench_scratch:ScratchEnvironment"
"""

MODULE = """\
from orchestrator.environments.uv import UvEnvironment


class ScratchEnvironment(UvEnvironment):
    backend = "scratch"

    def create(self, log):
        super().create(log)
        (self.root / "made-by-scratch").write_text("yes")
"""

# Run inside the test virtualenv: the spec names the plugin's backend, and it is used.
USE = """\
import sys
from pathlib import Path
from orchestrator.environments import make_environment
from orchestrator.pipeline.engine import RunContext
from orchestrator.pipeline.specs import RepoSpec
from orchestrator.pipeline.storage import ResultCache

work, cache = Path(sys.argv[1]), Path(sys.argv[2])
# Offline, from the uv cache the outer environment filled: the sandbox has no certificates.
ctx = RunContext(
    work, ResultCache(work), ResultCache(work), 1, 0, work, work, cache, "local",
    run_env={"UV_OFFLINE": "1"},
)
env = make_environment(ctx, "inner", RepoSpec(repository="x", env_manager="scratch"))
env.create(work / "create.log")
print(type(env).__module__, (env.root / "made-by-scratch").read_text())
"""


def test_a_plugin_backend_is_listed_and_used(tmp_path: Path) -> None:
    ctx = scratch_context(tmp_path, "uv")
    # The outer environment runs featurebench itself (our code, not a project's) from a
    # source tree or site-packages that the sandbox would rightly hide from a project.
    ctx.sandbox = False
    outer = make_environment(ctx, "outer", RepoSpec(repository="x"))
    outer.create(tmp_path / "create.log")
    package = tmp_path / "fbench-scratch"
    package.mkdir()
    (package / "pyproject.toml").write_text(PYPROJECT)
    (package / "fbench_scratch.py").write_text(MODULE)
    outer.install_py_deps(package, tmp_path / "install.log")
    _see_featurebench(outer)
    listed = outer.run_cmd(
        ["python", "-c", "from orchestrator.cli import main; main()", "plugins", "--json"]
    )
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {
        "kind": "environments",
        "type": "scratch",
        "target": "fbench_scratch:ScratchEnvironment",
        "origin": "fbench-scratch 1.2",
    } in rows
    (tmp_path / "use.py").write_text(USE)
    used = outer.run_cmd(
        ["python", str(tmp_path / "use.py"), str(tmp_path / "inner"), str(ctx.cache_dir)],
        network=True,
        timeout=600,
    )
    assert used.ok, used.output
    assert used.output.split()[-2:] == ["fbench_scratch", "yes"]


def _see_featurebench(env: object) -> None:
    """Point the virtualenv at our own site-packages, where featurebench is installed."""
    ours = sysconfig.get_path("purelib")
    found = env.run_cmd(["python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])  # type: ignore[attr-defined]
    line = f"import site; site.addsitedir({ours!r})\n"
    (Path(found.output.strip()) / "featurebench-outer.pth").write_text(line)
