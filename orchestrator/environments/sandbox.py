"""What every command of an untrusted repository runs inside.

- No network: bubblewrap's ``--unshare-net`` (loopback stays up), else
  ``unshare --net``, else nothing, and the run's summary says so.
- Limits: ``prlimit`` caps address space and CPU time.
- A clean environment: only the variables a test run needs; nothing of ours,
  so no ``*_API_KEY`` or ``*_TOKEN`` can reach the project's code.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

MEMORY_LIMIT = 8 * 1024**3  # bytes of address space per command
_SAFE_VARIABLES = ("LANG", "LC_ALL", "TZ")
# Installing needs the network, and with it the machine's proxy and CA settings
# and the package tools' own configuration; test runs get none of these.
_NETWORK_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
_NETWORK_PREFIXES = ("PIP_", "UV_")
_SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def network_isolation() -> list[str] | None:
    """The command prefix that cuts the network, or None when none works here."""
    if shutil.which("bwrap"):
        return ["bwrap", "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent", "--"]
    if shutil.which("unshare") and os.geteuid() == 0:
        return ["unshare", "--net", "--"]
    return None


def limits_prefix(cpu_seconds: float | None) -> list[str]:
    if not shutil.which("prlimit"):
        return []
    prefix = ["prlimit", f"--as={MEMORY_LIMIT}"]
    if cpu_seconds is not None:
        prefix.append(f"--cpu={int(cpu_seconds) + 1}")
    return [*prefix, "--"]


def clean_environment(
    path_head: list[str], home: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Variables for a command of the project: PATH, HOME, locale, and ``extra``."""
    env = {name: os.environ[name] for name in _SAFE_VARIABLES if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env["PATH"] = os.pathsep.join([*path_head, "/usr/local/bin", "/usr/bin", "/bin"])
    env["HOME"] = home
    for name, value in (extra or {}).items():
        if not is_secret(name):
            env[name] = value
    return env


def install_variables() -> dict[str, str]:
    """The machine's network and package-tool settings, minus anything secret."""
    return {
        name: value
        for name, value in os.environ.items()
        if (name in _NETWORK_VARIABLES or name.startswith(_NETWORK_PREFIXES))
        and not is_secret(name)
    }


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in _SECRET_MARKERS)
