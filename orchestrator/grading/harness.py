"""What SWE-bench's harness needs beside a row's data: an image name and an eval script.

SWE-bench 5 grades an instance by running its ``eval_script`` in the
instance's ``image`` (the case repository at ``/testbed``) after applying the
model's patch there, and reading pytest's ``-rA`` summary between two marker
lines with ``parse_log_pytest``. The script does what ``fbench eval`` does
before it runs the tests: it puts the case's test files and pytest
configuration back (deleting what the patch added among them), applies
``test_patch``, and runs the test files of the row's tests.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from orchestrator.environments.sandbox import HASH_SEED
from orchestrator.grading.eval_inputs import Case

LOG_PARSER = "parse_log_pytest"
EVAL_TYPE = "pass_and_fail"
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
_HEREDOC = "EOF_FBENCH_TEST_PATCH"  # a word no diff line is
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


def image_name(instance_id: str, namespace: str = "swebench") -> str:
    """The image tag SWE-bench (and the agents reading its rows) derive from an id."""
    key = f"sweb.eval.x86_64.{instance_id}:latest".lower()
    return f"{namespace}/{key}".replace("__", "_1776_")


def patch_files(diff: str) -> list[str]:
    """The paths a git diff touches, in order, each once."""
    return list(dict.fromkeys(match[1] for match in _DIFF_HEADER.findall(diff)))


def test_files(tests: list[str]) -> list[str]:
    """The files of pytest node ids, in order, each once."""
    return list(dict.fromkeys(test.split("::", 1)[0] for test in tests))


def eval_script(case: Case, test_patch: str, tests: list[str]) -> str:
    """The bash script that restores the tests, applies ``test_patch`` and runs ``tests``."""
    info = case.instance
    restored = _restored_files(case)
    checkout = f"git checkout {info['base_commit']} -- {' '.join(map(shlex.quote, restored))}"
    names = " -o ".join(f"-name {shlex.quote(name)}" for name in protected_names())
    command = [*info["repo_settings"]["test_cmd"], "-rA", *test_files(tests)]
    pythonpath = ":".join(f"/testbed/{d}".rstrip("/.") for d in info["environment"]["pythonpath"])
    return "\n".join(
        [
            "#!/bin/bash",
            "set -uxo pipefail",
            "cd /testbed",
            f"export PYTHONPATH={shlex.quote(pythonpath)}",
            f"export PYTHONHASHSEED={HASH_SEED}",  # as the case's tests were named with
            # The test files as the case has them: what the patch made of them goes.
            f"rm -f {' '.join(shlex.quote(p) for p in [info['test_file'], *_p2p_files(info)])}",
            f"find . -path ./.git -prune -o \\( {names} \\) -type f -exec rm -f {{}} +",
            *([checkout] if restored else []),
            f"git apply --verbose - <<'{_HEREDOC}'",
            test_patch.rstrip("\n"),
            _HEREDOC,
            f": '{START}'",
            shlex.join(command),
            f": '{END}'",
            *([checkout] if restored else []),
            "",
        ]
    )


def _restored_files(case: Case) -> list[str]:
    """The case repository's test files and pytest configuration files."""
    repo = case.path / "repo"
    found = {path for path in _p2p_files(case.instance) if (repo / path).is_file()}
    for name in protected_names():
        found.update(_relative(path, repo) for path in repo.rglob(name) if path.is_file())
    return sorted(path for path in found if not path.startswith(".git/"))


def _p2p_files(info: dict[str, Any]) -> list[str]:
    """The pass-to-pass files put back: doctest modules are graded as the agent left them."""
    from orchestrator.grading.tamper import restored_p2p_files

    return restored_p2p_files(info)


def protected_names() -> list[str]:
    """The names ``fbench eval`` restores, imported late: tamper pulls in dulwich."""
    from orchestrator.grading.tamper import PROTECTED

    return sorted(PROTECTED)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
