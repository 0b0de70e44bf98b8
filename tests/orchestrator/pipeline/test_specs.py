"""Spec files: both forms load into one schema; every mistake is one clear line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.errors import SpecError
from orchestrator.pipeline.specs import RepoSpec, load_specs

EXAMPLES = Path(__file__).resolve().parents[3] / "specs"


def test_the_shipped_examples_load() -> None:
    """specs/ has one example of each form, and both load."""
    (py,) = load_specs(EXAMPLES / "example_specs.py")
    (toml,) = load_specs(EXAMPLES / "example_specs.toml")
    assert py.name == "SPECS_CACHETOOLS"
    assert py.settings.repository == "pypi:cachetools==5.5.2"
    assert toml.name == "SPECS_TOOLZ"
    assert toml.settings.min_test_num == 5


def test_both_forms_give_the_same_schema_with_defaults(tmp_path: Path) -> None:
    """A Python dict and a TOML table with the same keys are the same spec."""
    (tmp_path / "s.py").write_text(
        'SPECS_A = {"repository": "o/n", "timeout_run": 30}\nOTHER = 1\n'
    )
    (tmp_path / "s.toml").write_text('[SPECS_A]\nrepository = "o/n"\ntimeout_run = 30\n')
    (from_py,) = load_specs(tmp_path / "s.py")
    (from_toml,) = load_specs(tmp_path / "s.toml")
    assert from_py == from_toml
    assert from_py.settings.test_scanner_cmd == ["pytest", "--collect-only", "-q"]
    assert from_py.settings.clone_method == "https"
    assert from_py.settings.base_url == "https://github.com"


BAD_SPECS = [
    ({"repository": "o/n", "comit": "abc"}, "SPECS_X.comit: unknown key; did you mean 'commit'?"),
    (
        {"repository": "o/n", "timeout_run": "10"},
        "SPECS_X.timeout_run: expected int, found '10' (a str)",
    ),
    (
        {"repository": "o/n", "clone_method": "git"},
        'SPECS_X.clone_method: expected one of ["https", "ssh"], found \'git\' (a str)',
    ),
    (
        {"repository": "o/n", "max_f2p_num": 5, "max_p2p_num": 3},
        "SPECS_X.max_p2p_num: expected -1 or at least the fail-to-pass count (max_f2p_num=5), found 3",
    ),
    (
        {
            "repository": "o/n",
            "docker_specs": {"run_args": {"cuda_visible_num": 1, "number_once": 2}},
        },
        "SPECS_X.docker_specs.run_args.number_once: expected at most cuda_visible_num (1), found 2",
    ),
    (
        {"repository": "o/n", "start_time": "2024-13-01"},
        "SPECS_X.start_time: expected a date YYYY-MM-DD, found '2024-13-01'",
    ),
    (
        {"repository": "o/n", "timeout_scanner": 0},
        "SPECS_X.timeout_scanner: expected a number of seconds from 1 to 604800, or -1 for no limit,"
        " found 0",
    ),
    (
        {"repository": "o/n", "f2p_pass_rate_threshold": 1.5},
        "SPECS_X.f2p_pass_rate_threshold: expected a rate between 0 and 1, found 1.5",
    ),
    (
        {"repository": "o/n", "min_p2p_files": 4, "max_p2p_files": 2},
        "SPECS_X.max_p2p_files: expected at least min_p2p_files (4), found 2",
    ),
    (
        {"repository": "o/n", "max_code_line_lower_bound": 300, "max_code_line_upper_bound": 100},
        "SPECS_X.max_code_line_upper_bound: expected at least max_code_line_lower_bound (300), found 100",
    ),
    (
        {"repository": "not a repo at all"},
        "SPECS_X.repository: expected owner/name, a git URL, an existing local path or pypi:NAME==VERSION,"
        " found 'not a repo at all'",
    ),
    (
        {"commit": "abc"},
        "SPECS_X.repository: required; give owner/name, a git URL, a path or pypi:NAME==VERSION",
    ),
    (
        {"repository": "o/n", "docker_specs": {"run_args": {"cuda": 1}}},
        "SPECS_X.docker_specs: expected DockerSpecs, found {'run_args': {'cuda': 1}}"
        " (Object contains unknown field `cuda` at docker_specs.run_args)",
    ),
    (
        {"repository": "o/n", "pip_packages": "pytest"},
        "SPECS_X.pip_packages: expected list[str], found 'pytest' (a str)",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_SPECS)
def test_each_mistake_has_its_one_line_message(
    tmp_path: Path, data: dict[str, object], message: str
) -> None:
    """The message names the file, the spec, the key, what was expected and what was found."""
    path = tmp_path / "specs.py"
    path.write_text(f"SPECS_X = {data!r}\n")
    with pytest.raises(SpecError) as caught:
        load_specs(path)
    assert caught.value.problems == [f"{path}: {message}"]


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    """Three specs with four problems give four lines, exit code 2 and no traceback."""
    path = tmp_path / "specs.toml"
    path.write_text(
        '[SPECS_A]\nrepository = "o/n"\ncomit = "x"\ntimeout_run = "1"\n'
        '[SPECS_B]\nrepository = "o/n"\nf2p_pass_rate_threshold = 2.0\n'
        '[SPECS_C]\nrepository = "o/n"\nmin_test_num = 0\n'
    )
    result = CliRunner().invoke(
        cli, ["build-cases", "--config-path", str(path), "--output-dir", str(tmp_path / "out")]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"fbench: error: {path}: SPECS_A.comit: unknown key")
    assert len(lines) == 4
    assert all(line.startswith(("fbench: error: ", str(path))) for line in lines)
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # nothing is left half-written


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("specs.yaml", "x: 1", "specs must be a .py module of SPECS_* dicts or a .toml file"),
        ("specs.toml", "[SPECS_A\n", "not valid TOML"),
        ("specs.py", "raise ValueError('boom')\n", "the module failed to run: ValueError: boom"),
        ("specs.py", "X = 1\n", "no specs found; define SPECS_<NAME> dicts"),
        ("specs.py", "SPECS_A = ['o/n']\n", "SPECS_A: expected a table of keys, found list"),
    ],
)
def test_unreadable_spec_files_are_clear_errors(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_specs(path)


def test_the_real_command_exits_2_without_a_traceback(tmp_path: Path) -> None:
    """Through the installed ``fbench``: one line per problem on stderr, exit status 2."""
    path = tmp_path / "specs.py"
    path.write_text('SPECS_A = {"repository": "o/n", "max_p2p_num": 0}\n')
    fbench = Path(sys.executable).parent / "fbench"
    done = subprocess.run(
        [fbench, "build-cases", "--config-path", path], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"fbench: error: {path}: SPECS_A.max_p2p_num: expected -1 (no limit) or a count >= 1, found 0",
        f"{path}: SPECS_A.max_p2p_num: expected -1 or at least the fail-to-pass count (max_f2p_num=-1), found 0",
    ]


def test_schema_holds_every_key_of_seed_000() -> None:
    """Every spec key that seed 000 documents is a field of the schema."""
    seed = (
        Path(__file__).resolve().parents[4] / "shared" / "seeds" / "000_12783c8d4aaf3607.txt"
    ).read_text()
    section = seed[seed.index("Repo Specs Reference") : seed.index("Output Directory Structure")]
    bullets = [line.strip().lstrip("\u2022").strip() for line in section.splitlines()]
    documented = {
        b
        for b in bullets
        if (b.replace(".", "_").isidentifier() and "_" in b)
        or b in {"commit", "install", "repository"}
    }
    top_level = {key.split(".")[0] for key in documented}
    assert top_level <= set(RepoSpec.__struct_fields__), top_level - set(RepoSpec.__struct_fields__)
    assert len(top_level) > 35
