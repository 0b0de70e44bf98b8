"""A third-party package adds a backend, a hook and a pair check, one entry point each.

The package is built and installed for real into a fresh virtualenv that sees
featurebench; there, ``fbench plugins`` lists both, a spec that names the
backend in ``env_manager`` gets it from ``make_environment``, and a job list of
``fbench sandbox`` runs the hook twice, the second job taking the first's output,
and a ``[pairs]`` config may require the plugin's pair check, which quality runs.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path
from typing import Any

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

[project.entry-points."featurebench.hooks"]
count_words = "fbench_scratch:CountWords"

[project.entry-points."featurebench.pair_checks"]
short = "fbench_scratch:short_check"
"""

MODULE = """\
import msgspec

from orchestrator.environments.uv import UvEnvironment


class CountArgs(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    times: int = 1


class CountWords:
    Args = CountArgs
    outputs = ("words",)

    def run(self, args, ctx):
        ctx.folder.mkdir(parents=True, exist_ok=True)
        (ctx.folder / "seen.txt").write_text(args.text)
        return {"words": len(args.text.split()) * args.times}


def short_check(response, seed, config, instruction, llm):
    lines = len(response.splitlines())
    return {"value": lines, "threshold": 3, "passed": lines <= 3}


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

JOBS = """\
probe_jobs:
  - {type: count_words, meta_name: first, text: "one two three"}
evaluation_jobs:
  - {type: count_words, meta_name: second, text: "x y", times: "${first.words}"}
"""


def test_a_plugin_backend_hook_and_pair_check_are_listed_and_used(tmp_path: Path) -> None:
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
    assert {
        "kind": "hooks",
        "type": "count_words",
        "target": "fbench_scratch:CountWords",
        "origin": "fbench-scratch 1.2",
    } in rows
    _run_plugin_hook(outer, tmp_path)
    _run_plugin_check(outer, tmp_path)
    (tmp_path / "use.py").write_text(USE)
    used = outer.run_cmd(
        ["python", str(tmp_path / "use.py"), str(tmp_path / "inner"), str(ctx.cache_dir)],
        network=True,
        timeout=600,
    )
    assert used.ok, used.output
    assert used.output.split()[-2:] == ["fbench_scratch", "yes"]


# A pairs config may require the plugin's check, and the quality checks run it.
CHECK = """\
import json
from orchestrator.pairs.config import parse_pairs
from orchestrator.pairs.quality import quality

config = parse_pairs({"required_checks": ["short"]}, "plugin")
long = "def f(x):\\n    y = x\\n    z = y\\n    return z\\n"
found = quality(long, {"signature": "def f(x):"}, config, "", None)
print(json.dumps(found["short"]))
"""


def _run_plugin_check(env: Any, tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(CHECK)
    ran = env.run_cmd(["python", str(tmp_path / "check.py")])
    assert ran.ok, ran.output
    verdict = json.loads(ran.output.strip().splitlines()[-1])
    assert verdict == {"value": 4, "threshold": 3, "passed": False}


def _run_plugin_hook(env: Any, tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(JOBS)
    fbench = ["python", "-c", "from orchestrator.cli import main; main()", "sandbox"]
    ran = env.run_cmd(
        [*fbench, "--config", str(tmp_path / "jobs.yaml"), "--output-dir", str(tmp_path / "out")]
    )
    assert ran.ok, ran.output
    run = Path(ran.output.strip().splitlines()[-1])
    infos = json.loads((run / "metadata_outputs" / "metadata.json").read_text())["context_infos"]
    assert [(e["meta_name"], e["words"]) for e in infos["probe_jobs"]] == [("first", 3)]
    assert [(e["meta_name"], e["words"]) for e in infos["evaluation_jobs"]] == [("second", 6)]
    assert (run / "jobs" / "second" / "seen.txt").read_text() == "x y"


def _see_featurebench(env: object) -> None:
    """Point the virtualenv at our own site-packages, where featurebench is installed."""
    ours = sysconfig.get_path("purelib")
    found = env.run_cmd(["python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])  # type: ignore[attr-defined]
    line = f"import site; site.addsitedir({ours!r})\n"
    (Path(found.output.strip()) / "featurebench-outer.pth").write_text(line)
