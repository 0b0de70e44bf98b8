"""Options of absent plugins in a project's pytest ``addopts``: dropped, and said so.

A project's pytest configuration often carries options of plugins it uses in its
own CI (``--cov=pkg``, ``-n auto``, ``--timeout 30``, ``--reruns 2``). When the
environment lacks the plugin, pytest stops before collecting anything with a
usage error (exit 4, ``unrecognized arguments: ...``). The options are then
dropped, not the plugins installed: coverage, distribution, reruns and timeouts
change how tests run under tracing (a second tracer, worker processes, repeated
outcomes), not which tests exist or what they check. The tests then run with
``-o addopts=...`` carrying every option pytest accepted, so options that shape
collection (``--doctest-modules``, ``--doctest-glob``, ``--import-mode``,
``-p``, ``--ignore``) stay. A ``-p NAME`` naming a plugin that is not installed
stops pytest too (``Error importing plugin "NAME"``, exit 4; exit 1 in pytest
9.0, which lets the ImportError escape): that ``-p NAME`` is dropped the same way.
pytest stops at the first of these errors, so the scanner repairs again on top of
the last repair, at most :data:`MAX_REPAIRS` times. The repair becomes part of
``test_cmd``, so every later stage's cache key and each case's command carry it.

The configuration files read are pytest's own, in the order pytest 9 looks for them
in a directory: ``pytest.toml`` and ``.pytest.toml`` (a ``[pytest]`` table, native
TOML: ``addopts`` is a list), ``pytest.ini``, ``.pytest.ini``, ``pyproject.toml``
(``[tool.pytest]`` or ``[tool.pytest.ini_options]``), ``tox.ini``, ``setup.cfg``.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR
MAX_REPAIRS = 3  # each rerun can stop at the next error: a missing plugin, then its options
CONFIG_FILES = (
    *("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini"),
    *("pyproject.toml", "tox.ini", "setup.cfg"),
)
_PLUGIN = re.compile(r'Error importing plugin "(?P<name>[^"]+)"')
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<args>.*)$", re.MULTILINE)
_INIFILE = re.compile(r"^\s*(?:inifile|configfile): (?P<path>.+?)\s*$", re.MULTILINE)
# Options of common plugins that take no value: the word after one is not its value.
# An unknown option not listed takes the next word as its value, as argparse would for
# an option with a value, unless that word names a path of the repository.
FLAGS = frozenset(
    {
        *("--no-cov", "--cov-append", "--cov-branch", "--no-cov-on-fail"),
        *("--benchmark-skip", "--benchmark-only", "--benchmark-disable", "--benchmark-autosave"),
        *("--flake8", "--mypy", "--black", "--isort", "--pylint", "--pycodestyle", "--ruff"),
        *("--instafail", "--force-flaky", "--no-flaky-report", "--looponfail", "-f"),
        *("--randomly-dont-reorganize", "--hypothesis-show-statistics", "--nomigrations"),
    }
)
# ... and options that take one even where the word names a path (``--cov src``).
VALUED = frozenset({"--cov", "--cov-config", "-n", "--numprocesses", "--dist", "--timeout"})


@dataclass(frozen=True)
class AddoptsRepair:
    config: str  # the configuration file, relative to the repository
    kept: tuple[str, ...]
    dropped: tuple[str, ...]

    @property
    def args(self) -> list[str]:
        """What the pytest commands get: the accepted options in place of the file's."""
        return ["-o", f"addopts={shlex.join(self.kept)}"]

    def describe(self) -> str:
        return (
            f"{self.config} addopts: dropped {shlex.join(self.dropped)} (pytest rejected them:"
            " they name or need plugins that are not installed); tests run with"
            f" {shlex.join(self.args)}"
        )


def describe(stored: dict[str, Any]) -> str:
    """One line for the summary and the report, from what files_status.json keeps."""
    kept, dropped = tuple(stored["kept"]), tuple(stored["dropped"])
    said = AddoptsRepair(stored["config"], kept, dropped).describe()
    logs = stored.get("refused_logs", [])
    return f"{said}; the refused collections' logs: {', '.join(logs)}" if logs else said


def repair(
    output: str, returncode: int, repo: Path, previous: AddoptsRepair | None = None
) -> AddoptsRepair | None:
    """The repair of a session that pytest refused for its ``addopts`` (on top of
    ``previous``, the repair that session ran with); None when the refusal was for
    something else (an option on the command line, say)."""
    if returncode != USAGE_ERROR and not (returncode == 1 and _PLUGIN.search(output)):
        return None  # pytest 9.0 lets a plugin's ImportError escape: exit 1
    config = previous.config if previous is not None else _config(output, repo)
    tokens = list(previous.kept) if previous is not None else None
    if previous is None and config is not None:
        tokens = read_addopts(repo / config)
    refused = None if tokens is None else _refused(output, tokens, repo)
    if config is None or refused is None:
        return None
    before = () if previous is None else previous.dropped
    return AddoptsRepair(config, tuple(refused[0]), (*before, *refused[1]))


def _config(output: str, repo: Path) -> str | None:
    """The configuration file pytest named, or the one it reads in the repository's root
    (an import error of a plugin is reported before the file is named)."""
    located = _INIFILE.search(output)
    if located is not None:
        return locate(located["path"], repo)
    return next((name for name in CONFIG_FILES if _configures(repo / name)), None)


def _configures(path: Path) -> bool:
    """Whether pytest takes ``path`` for its configuration file (it ignores a tox.ini
    or a setup.cfg without a pytest section, and a pyproject.toml without a table)."""
    if not path.is_file():
        return False
    return path.name not in ("pyproject.toml", "tox.ini", "setup.cfg") or _has_table(path)


def _has_table(path: Path) -> bool:
    if path.suffix == ".toml":
        return _pytest_table(path) is not None
    return _ini_section(path) is not None


def _ini_section(path: Path) -> configparser.SectionProxy | None:
    """pytest's section of an ini-style file: ``[tool:pytest]`` in setup.cfg, else ``[pytest]``."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return None
    section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
    return parser[section] if parser.has_section(section) else None


def _refused(output: str, tokens: list[str], repo: Path) -> tuple[list[str], list[str]] | None:
    """``tokens`` into the kept and the dropped ones, when ``output`` is pytest refusing
    some of them: unrecognized options, or a ``-p`` plugin it cannot import."""
    found = _UNRECOGNIZED.search(output)
    if found is not None:
        rejected = set(found["args"].split())
        return split_tokens(tokens, rejected, repo) if rejected <= set(tokens) else None
    plugin = _PLUGIN.search(output)
    return None if plugin is None else drop_plugin(tokens, plugin["name"])


def drop_plugin(tokens: list[str], name: str) -> tuple[list[str], list[str]] | None:
    """``tokens`` without ``-p NAME`` (or ``-pNAME``); None when they have neither."""
    kept: list[str] = []
    dropped: list[str] = []
    words = iter(enumerate(tokens))
    for index, token in words:
        if token == f"-p{name}":
            dropped.append(token)
        elif token == "-p" and tokens[index + 1 : index + 2] == [name]:
            dropped += [token, name]
            next(words)
        else:
            kept.append(token)
    return (kept, dropped) if dropped else None


def locate(path: str, repo: Path) -> str | None:
    """The repository file pytest named (it may see the repository at another path)."""
    parts = PurePosixPath(path).parts
    for start in range(1, len(parts)):
        relative = PurePosixPath(*parts[start:])
        if (repo / relative).is_file():
            return str(relative)
    return None


def read_addopts(config: Path) -> list[str] | None:
    """The ``addopts`` words of a pytest configuration file, as pytest reads them."""
    if config.suffix == ".toml":
        return _toml_addopts(config)
    section = _ini_section(config)
    value = None if section is None else section.get("addopts")
    return None if value is None else shlex.split(value)


def _toml_addopts(config: Path) -> list[str] | None:
    table = _pytest_table(config)
    value = None if table is None else table.get("ini_options", {}).get("addopts")
    if table is not None and value is None:
        value = table.get("addopts")
    if isinstance(value, str):
        return shlex.split(value)
    return [str(word) for word in value] if isinstance(value, list) else None


def _pytest_table(config: Path) -> dict[str, Any] | None:
    """pytest's table of a TOML file: ``[pytest]`` in its own files (``pytest.toml``),
    ``[tool.pytest]`` in ``pyproject.toml``."""
    try:
        document: Any = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    own = config.name in ("pytest.toml", ".pytest.toml")
    table = document.get("pytest") if own else document.get("tool", {}).get("pytest")
    return table if isinstance(table, dict) else None


def split_tokens(tokens: list[str], rejected: set[str], repo: Path) -> tuple[list[str], list[str]]:
    """``tokens`` into the accepted and the rejected ones with their values."""
    kept: list[str] = []
    dropped: list[str] = []
    words = iter(enumerate(tokens))
    for index, token in words:
        # pytest lists a stray value (``-n 30``'s ``30``) among the rejected words too; the
        # same word after an accepted option (``--maxfail 30``) is that option's value.
        if token not in rejected or not token.startswith("-"):
            kept.append(token)
            continue
        dropped.append(token)
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is not None and _is_value(token, following, repo):
            dropped.append(following)
            next(words)
    return kept, dropped


def _is_value(option: str, word: str, repo: Path) -> bool:
    """Whether ``word`` is the value of the rejected ``option`` before it."""
    if "=" in option or word.startswith("-") or option in FLAGS:
        return False
    if option.startswith("-") and not option.startswith("--") and len(option) > 2:
        return False  # ``-n2``: the value is attached
    return option in VALUED or not (repo / word).exists()
