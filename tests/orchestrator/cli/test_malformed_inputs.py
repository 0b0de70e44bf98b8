"""Malformed inputs and their exact one-line messages: no traceback, a truthful exit status."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import UsageError
from orchestrator.grading.eval_inputs import load_predictions

GOOD_SPEC = 'SPECS_A = {"repository": "pypi:cachetools==5.5.2"}\n'


def specs_file(tmp: Path, text: str = GOOD_SPEC) -> Path:
    path = tmp / "specs.py"
    path.write_text(text)
    return path


def output_dir_in_proc(tmp: Path) -> tuple[list[str], str]:
    specs = specs_file(tmp)
    args = ["--config-path", str(specs), "--output-dir", "/proc/x"]
    return args, (
        "--output-dir /proc/x: cannot make a run directory there (No such file or directory);"
        " give a writable directory"
    )


def cache_dir_under_a_file(tmp: Path) -> tuple[list[str], str]:
    (tmp / "plain").write_text("")
    args = ["--config-path", str(specs_file(tmp)), "--cache-dir", str(tmp / "plain" / "cache")]
    return args, (
        f"--cache-dir {tmp}/plain/cache: cannot be used as a cache directory (Not a directory);"
        " give a writable directory"
    )


SPEC_TEXTS = {
    "non_string_key": (
        'SPECS_A = {"repository": "pypi:x==1", 3: 4}\n',
        "SPECS_A[3]: keys must be strings such as 'repository', found 3",
    ),
    "huge_timeout": (
        'SPECS_A = {"repository": "pypi:x==1", "timeout_run": 10**20}\n',
        "SPECS_A.timeout_run: expected a number of seconds from 1 to 604800,"
        " or -1 for no limit, found 100000000000000000000",
    ),
    "exit_in_specs": (
        "import sys\nsys.exit(3)\n",
        "the module called sys.exit(3); define SPECS_* dicts only",
    ),
}


def bad_specs_file(name: str) -> Callable[[Path], tuple[list[str], str]]:
    text, message = SPEC_TEXTS[name]

    def case(tmp: Path) -> tuple[list[str], str]:
        specs = specs_file(tmp, text)
        return ["--config-path", str(specs)], f"{specs}: {message}"

    case.__name__ = name
    return case


def resume_not_a_run(tmp: Path) -> tuple[list[str], str]:
    return ["--resume", str(tmp / "nowhere")], (
        f"--resume {tmp}/nowhere: not a run directory (expected cases/, metadata_outputs/,"
        " logs/ and debug_outputs/ in it); give the directory build-cases printed"
    )


def resume_without_backup(tmp: Path) -> tuple[list[str], str]:
    run = tmp / "run"
    for sub in ("cases", "metadata_outputs", "logs", "debug_outputs"):
        (run / sub).mkdir(parents=True)
    return ["--resume", str(run)], (
        f"--resume {run}: config_backup.py is missing (the run stopped before writing it);"
        " give --config-path with the run's specs file too"
    )


BUILD_INPUTS = [
    output_dir_in_proc,
    cache_dir_under_a_file,
    *(bad_specs_file(name) for name in SPEC_TEXTS),
    resume_not_a_run,
    resume_without_backup,
]


@pytest.mark.parametrize("case", BUILD_INPUTS, ids=lambda case: case.__name__)
def test_build_cases_rejects_it_in_one_line(
    tmp_path: Path, case: Callable[[Path], tuple[list[str], str]]
) -> None:
    """Exit 2, the one line on stderr, nothing on stdout and no run directory left."""
    args, message = case(tmp_path)
    out = tmp_path / "out"
    defaults = ["--output-dir", str(out), "--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(cli, ["build-cases", *defaults, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (result.exit_code, result.stderr) == (2, f"fbench: error: {message}\n")
    assert result.stdout == ""
    assert not out.exists()


PREDICTIONS = [
    (
        b'{"instance_id": "a", "model_name_or_path": "m", "model_patch": "caf\xe9"}\n',
        ":1: byte 0xe9 is not UTF-8; save the file as UTF-8",
    ),
    (
        b'{"instance_id": "a", "model_name_or_path": "m", "model_patch": "\\ud800"}\n',
        ":1: a lone surrogate escape (such as \\ud800) is not text;"
        " a patch is UTF-8, so escape whole characters only",
    ),
]


@pytest.mark.parametrize(("data", "message"), PREDICTIONS, ids=["invalid-utf8", "surrogate"])
def test_a_predictions_file_is_rejected_in_one_line(
    tmp_path: Path, data: bytes, message: str
) -> None:
    """The message names the file and the line; eval exits 2 on a UsageError."""
    path = tmp_path / "preds.jsonl"
    path.write_bytes(data)
    with pytest.raises(UsageError) as caught:
        load_predictions(str(path), {})
    assert str(caught.value) == f"{path}{message}"
