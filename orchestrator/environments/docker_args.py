"""A spec's ``docker_specs.custom_docker_args``: the variables and mounts of its containers.

Only ``-e NAME=VALUE`` and ``-v HOST:CONTAINER[:ro|rw]`` (and their long forms) are
accepted; anything else would change what the sandbox of a run is, and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import docker.types

from orchestrator.errors import UsageError

_ENV_FLAGS = ("-e", "--env")
_VOLUME_FLAGS = ("-v", "--volume")
_FLAG_AND_VALUE = tuple(f"{flag} " for flag in (*_ENV_FLAGS, *_VOLUME_FLAGS))
_SUPPORTED = "use -e NAME=VALUE or -v HOST:CONTAINER[:ro|rw]"


def parse_docker_args(args: Sequence[str]) -> tuple[dict[str, str], list[Any]]:
    """``custom_docker_args`` as variables and mounts; anything else is refused."""
    # Items are arguments, as in argv; "-e NAME=VALUE" in one item is split at the blank.
    tokens = [
        token
        for arg in args
        for token in (arg.split(None, 1) if arg.startswith(_FLAG_AND_VALUE) else [arg])
    ]
    env: dict[str, str] = {}
    mounts: list[Any] = []
    position = 0
    while position < len(tokens):
        flag, inline, value = tokens[position].partition("=")
        if flag not in (*_ENV_FLAGS, *_VOLUME_FLAGS):
            raise UsageError(
                f"docker_specs.custom_docker_args: {tokens[position]!r} is not supported;"
                f" {_SUPPORTED}"
            )
        if not inline:
            position += 1
            if position == len(tokens):
                raise UsageError(f"docker_specs.custom_docker_args: {flag} needs a value")
            value = tokens[position]
        position += 1
        if flag in _ENV_FLAGS:
            name, setting = _split_env(value)
            env[name] = setting
        else:
            mounts.append(_mount(value))
    return env, mounts


def _split_env(value: str) -> tuple[str, str]:
    name, equals, setting = value.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"docker_specs.custom_docker_args: -e {value!r}; {_SUPPORTED}")
    return name, setting


def _mount(value: str) -> Any:
    parts = value.split(":")
    mode = parts.pop() if len(parts) == 3 else "rw"
    named = len(parts) == 2 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", parts[0])
    if len(parts) != 2 or mode not in ("ro", "rw") or not parts[1].startswith("/"):
        raise UsageError(f"docker_specs.custom_docker_args: -v {value!r}; {_SUPPORTED}")
    if not parts[0].startswith("/") and not named:
        raise UsageError(
            f"docker_specs.custom_docker_args: -v {value!r}: the host side must be an"
            " absolute path or a volume name"
        )
    kind = "volume" if named else "bind"
    return docker.types.Mount(parts[1], parts[0], type=kind, read_only=mode == "ro")
