"""The textkit project, its specs and one cache, shared by the build-pairs tests."""

from __future__ import annotations

import pytest

from tests.orchestrator.pairs.text_project import Project, make_text_project


@pytest.fixture(scope="session")
def textkit(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("textkit")
    make_text_project(root / "textkit")
    spec = {"repository": str(root / "textkit"), "pip_packages": ["pytest"]}
    (root / "specs.py").write_text(f"SPECS_TEXTKIT = {spec!r}\n")
    return Project(root, root / "specs.py", root / "cache")
