"""The runner: a records file the code under test spoiled fails that file, not the run."""

from __future__ import annotations

from pathlib import Path

from orchestrator.pipeline.engine import RunContext, SpecState, WorkItem
from orchestrator.pipeline.repos import Checkout
from orchestrator.pipeline.specs import RepoSpec, Spec
from orchestrator.pipeline.storage import ResultCache
from orchestrator.stages.runner import RunnerStage
from tests.support.projects import installed_environment, write_tree

FILES = {
    "pyproject.toml": '[project]\nname = "spoil"\nversion = "0"\n',
    # The plugin's output file is on pytest's command line: this test writes junk into it,
    # longer than what the plugin still writes over it from its own offset.
    "tests/test_spoil.py": (
        "import sys\n\n\ndef test_spoil():\n"
        "    path = sys.argv[sys.argv.index('--fb-out') + 1]\n"
        "    with open(path, 'a') as out:\n        out.write('x' * 100_000 + '\\n')\n"
    ),
    "tests/test_fine.py": "def test_fine():\n    assert True\n",
}


def test_an_unreadable_records_line_fails_only_its_file(tmp_path: Path) -> None:
    """The spoiled file's item is an error naming the line; the next file runs as usual."""
    tree = write_tree(tmp_path / "spoil", FILES)
    env = installed_environment(tree, tmp_path, "spoil")
    state = SpecState(Spec("SPECS_SPOIL", RepoSpec(repository=str(tree))))
    state.values.update(environment=env, checkout=Checkout(tree, "0" * 40, "spoil"))
    ctx = RunContext(
        tmp_path, ResultCache(tmp_path / "c"), ResultCache(tmp_path / "j"), 1, 0,
        tmp_path / "logs", tmp_path, tmp_path, "local",
    )  # fmt: skip
    spoiled = RunnerStage().run(ctx, state, WorkItem("tests/test_spoil.py", {}))
    assert spoiled.status == "error"
    assert spoiled.reason is not None
    assert spoiled.reason.startswith("unreadable records: ")
    assert "not a featurebench record" in spoiled.reason
    assert RunnerStage().run(ctx, state, WorkItem("tests/test_fine.py", {})).status == "ok"
