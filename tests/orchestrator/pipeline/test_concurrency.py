"""Two build-cases at once on one empty cache give what one gives, and build one environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.gitrepos import commit_files

FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "pair"\nversion = "0"\n[tool.setuptools]\npackages = ["pair"]\n'
    ),
    "pair/__init__.py": "def add(a, b):\n    return a + b\n",
    "tests/test_add.py": "from pair import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
    "tests/test_wrong.py": "from pair import add\n\n\ndef test_wrong():\n    assert add(1, 1) == 3\n",
}
EXPECTED = {"tests/test_add.py": "ok", "tests/test_wrong.py": "failed"}


def start(specs: Path, out: Path, cache: Path) -> subprocess.Popen[str]:
    fbench = Path(sys.executable).parent / "fbench"
    command = [
        str(fbench), "build-cases", "--config-path", str(specs), "--output-dir", str(out),
        "--cache-dir", str(cache), "--debug", "end=runner", "--jobs", "1",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def verdicts(run: Path) -> dict[str, str]:
    status = json.loads((run / "metadata_outputs" / "files_status.json").read_text())
    return {path: info["runner"]["status"] for path, info in status["SPECS_PAIR"]["files"].items()}


def test_two_runs_on_one_empty_cache_agree(tmp_path: Path) -> None:
    """Both exit 0 with the same verdicts; the clone and the environment are made once."""
    repository = tmp_path / "pair"
    commit_files(repository, FILES, "pair", when=1_700_000_000)
    specs = tmp_path / "specs.py"
    specs.write_text(f"SPECS_PAIR = {{'repository': {str(repository)!r}, 'rerun_failed': 0}}\n")
    cache = tmp_path / "cache"
    runs = [start(specs, tmp_path / f"out{n}", cache) for n in (1, 2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    for stdout, _ in outputs:
        assert verdicts(Path(stdout.strip())) == EXPECTED
    assert len(list((cache / "envs").glob("*/.featurebench-complete"))) == 1
    logs = [Path(out.strip()) / "logs" / "instance" / "SPECS_PAIR.log" for out, _ in outputs]
    builders = [log for log in logs if log.is_file() and "uv venv" in log.read_text()]
    assert len(builders) == 1  # the other waited on the lock, then reused it
