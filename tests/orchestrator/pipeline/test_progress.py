"""Progress in a terminal: the live bars end before the run's summary is printed.

``fbench build-cases`` runs under a pseudo-terminal, as in a user's shell, so
that the progress display is rich's live one and the summary is written to the
same terminal.
"""

from __future__ import annotations

import errno
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from tests.orchestrator.feature_project import make_feature_project
from tests.orchestrator.grading.test_eval import SPEC

# Cursor movement and line erasing: what a live display redraws itself with.
REDRAW = re.compile(r"\x1b\[(\d*A|\d*K)")
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError as exc:  # EIO: the child closed the terminal
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def build_in_a_terminal(work: Path) -> tuple[int, str]:
    """``fbench build-cases`` with stdout and stderr on a pseudo-terminal."""
    make_feature_project(work / "geom")
    (work / "specs.py").write_text(f"SPECS_GEOM = {{'repository': 'geom', **{SPEC!r}}}\n")
    fbench = Path(sys.executable).parent / "fbench"
    command = [str(fbench), "build-cases", "--config-path", str(work / "specs.py")]
    command += ["--output-dir", str(work / "out"), "--cache-dir", str(work / "cache")]
    command += ["--debug", "end=runner"]
    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen(command, stdout=child, stderr=child, cwd=work, env=env)
    os.close(child)
    try:
        output = read_all(main)
    finally:
        os.close(main)
    return process.wait(timeout=600), output


def test_the_summary_is_printed_whole_after_the_bars(tmp_path: Path) -> None:
    """No redraw after the summary starts; the run's path is a line of its own."""
    code, output = build_in_a_terminal(tmp_path)
    assert code == 0, output
    (run,) = (tmp_path / "out").glob("[0-9]*/*")
    summary = (run / "logs" / "summary.txt").read_text()
    start = output.index(f"run: {run}")
    assert REDRAW.search(output[:start]), "no live display was drawn"
    assert not REDRAW.search(output[start:]), output[start:]
    plain = ESCAPES.sub("", output)
    assert plain[plain.index(f"run: {run}") - 1] == "\n"
    assert summary.strip() in plain
