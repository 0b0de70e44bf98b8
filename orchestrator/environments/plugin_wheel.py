"""A wheel of the pytest plugin alone, to install into environments under test.

Installing ``featurebench`` itself would bring docker, openai and the rest into
the project's environment. This wheel holds only ``pytest_featurebench`` and
its ``pytest11`` entry point; it is built from the installed sources, with
fixed timestamps, so its content hash is a stable part of environment
fingerprints.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import zipfile
from pathlib import Path

from orchestrator import __version__

DIST = "featurebench_plugin"
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def plugin_sources() -> dict[str, bytes]:
    # Found, not imported: the orchestrator imports nothing of the plugin but its records.
    spec = importlib.util.find_spec("pytest_featurebench")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pytest_featurebench package is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    return {
        f"pytest_featurebench/{path.name}": path.read_bytes()
        for path in sorted(package.glob("*.py"))
    }


def plugin_digest() -> str:
    """What the plugin is, as far as environments care: a hash of its sources."""
    digest = hashlib.sha256()
    for name, data in plugin_sources().items():
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16]


def build_plugin_wheel(directory: Path) -> Path:
    """Write the wheel into ``directory`` (once per plugin digest) and return its path."""
    version = f"{__version__.split('+')[0]}+{plugin_digest()}"
    wheel = directory / f"{DIST}-{version}-py3-none-any.whl"
    if wheel.is_file():
        return wheel
    directory.mkdir(parents=True, exist_ok=True)
    info = f"{DIST}-{version}.dist-info"
    files = dict(plugin_sources())
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n"
        "Requires-Dist: pytest\nRequires-Dist: msgspec\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: featurebench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{info}/entry_points.txt"] = b"[pytest11]\nfeaturebench = pytest_featurebench.plugin\n"
    record = [f"{name},sha256={_urlsafe_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    partial = wheel.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data)
    partial.replace(wheel)
    return wheel


def _urlsafe_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
