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
``-p``, ``--ignore``) stay. The scanner finds the repair once; it becomes part
of ``test_cmd``, so every later stage's cache key and each case's command carry it.
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
            " no installed plugin provides them); tests run with"
            f" {shlex.join(self.args)}"
        )


def describe(stored: dict[str, Any]) -> str:
    """One line for the summary and the report, from what files_status.json keeps."""
    kept, dropped = tuple(stored["kept"]), tuple(stored["dropped"])
    return AddoptsRepair(stored["config"], kept, dropped).describe()


def repair(output: str, returncode: int, repo: Path) -> AddoptsRepair | None:
    """The repair of a session that pytest refused for options of its ``addopts``;
    None when the refusal was for something else (an option on the command line, say)."""
    found = _UNRECOGNIZED.search(output)
    located = _INIFILE.search(output)
    if returncode != USAGE_ERROR or found is None or located is None:
        return None
    config = locate(located["path"], repo)
    tokens = None if config is None else read_addopts(repo / config)
    rejected = set(found["args"].split())
    if config is None or tokens is None or not rejected <= set(tokens):
        return None
    kept, dropped = split_tokens(tokens, rejected, repo)
    return AddoptsRepair(config, tuple(kept), tuple(dropped))


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
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(config, encoding="utf-8")
    except configparser.Error:
        return None
    section = "tool:pytest" if config.name == "setup.cfg" else "pytest"
    value = parser.get(section, "addopts", fallback=None)
    return None if value is None else shlex.split(value)


def _toml_addopts(config: Path) -> list[str] | None:
    try:
        tool: Any = tomllib.loads(config.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    table = tool.get("pytest", {})
    value = table.get("ini_options", {}).get("addopts", table.get("addopts"))
    if isinstance(value, str):
        return shlex.split(value)
    return [str(word) for word in value] if isinstance(value, list) else None


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
