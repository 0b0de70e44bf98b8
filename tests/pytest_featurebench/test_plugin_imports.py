"""The plugin runs inside every environment under test, so it imports almost nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest_featurebench

ALLOWED = {"pytest", "msgspec", "pytest_featurebench"}
PLUGIN_DIR = Path(pytest_featurebench.__file__).parent


def imported_top_level_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_plugin_sources_import_only_stdlib_pytest_and_msgspec() -> None:
    """Every import statement in the plugin names the standard library, pytest or msgspec."""
    modules = sorted(PLUGIN_DIR.glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        foreign = (
            imported_top_level_names(module.read_text()) - ALLOWED - set(sys.stdlib_module_names)
        )
        assert not foreign, f"{module.name} imports {sorted(foreign)}"


def test_importing_the_plugin_loads_nothing_else() -> None:
    """Importing every plugin module adds no third-party module beyond pytest's and msgspec's."""
    probe = """
import sys
import pytest, msgspec
before = set(sys.modules)
import pytest_featurebench.plugin, pytest_featurebench.tracer_profile, pytest_featurebench.records
import pytest_featurebench.tracer_rewrite
added = {name.split(".")[0] for name in set(sys.modules) - before}
print(sorted(added - set(sys.stdlib_module_names)))
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['pytest_featurebench']"


def test_the_detector_sees_a_forbidden_import() -> None:
    """The static check would catch a third-party import."""
    assert imported_top_level_names(
        "import click\nfrom rich.text import Text\nfrom . import x\n"
    ) == {"click", "rich"}


# Scripts whose source the orchestrator sends to ``python -c`` in the environment under
# test, where the plugin is installed; the orchestrator itself never imports them.
RUN_IN_THE_ENVIRONMENT = {"warm_worker.py"}


def test_the_orchestrator_imports_only_the_records_of_the_plugin() -> None:
    """Records are the one module shared by the plugin and the orchestrator."""
    orchestrator = PLUGIN_DIR.parent / "orchestrator"
    for module in sorted(orchestrator.rglob("*.py")):
        if module.name in RUN_IN_THE_ENVIRONMENT:
            continue
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("pytest_featurebench")
            ):
                assert node.module == "pytest_featurebench.records" or (
                    node.module == "pytest_featurebench"
                    and [a.name for a in node.names] == ["records"]
                ), f"{module.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("pytest_featurebench") for a in node.names), (
                    module.name
                )
