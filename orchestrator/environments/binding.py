"""Is a virtualenv still bound to the checkout it serves? Read from files, no interpreter run.

A virtualenv is not relocatable: its editable install records the checkout's
absolute path (``direct_url.json``, an ``.egg-link``, the ``__editable__`` finder),
and ``bin/python`` links to an interpreter by absolute path. A cache directory
that was moved, a checkout deleted, a cache shared over a mount at another
path: the environment is complete but imports nothing of the project, and every
test file fails to collect. The local backend asks :func:`why_unbound` each time
it would reuse an environment; any answer but None makes it build anew.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

MARKER = ".featurebench-complete"


def marker_text(key: str, repo: Path) -> str:
    """The completion marker: the key, then the checkout the project was installed from."""
    return f"{key}\n{repo.resolve()}\n"


def why_unbound(root: Path, python: Path, repo: Path) -> str | None:
    """Why the complete environment at ``root`` cannot serve ``repo`` any more; None if it can."""
    if not python.exists():  # exists() follows the link to the base interpreter
        return f"its interpreter {python} no longer runs (the link's target is gone)"
    lines = (root / MARKER).read_text(encoding="utf-8").splitlines()
    here = str(repo.resolve())
    # Markers written before the checkout was recorded have the key only.
    if len(lines) > 1 and lines[1] != here:
        return f"it was installed from {lines[1]}, and the checkout is now {here}"
    return _missing_source(python.parent.parent)


def _missing_source(venv: Path) -> str | None:
    for name, source in editable_sources(venv):
        if not source.is_dir():
            return f"the editable install of {name} points at {source}, which is gone"
    return None


def editable_sources(venv: Path) -> Iterator[tuple[str, Path]]:
    """Each editable install's distribution and source directory, as pip and uv record them."""
    for site in venv.glob("lib/python*/site-packages"):
        for record in site.glob("*.dist-info/direct_url.json"):
            source = _editable_dir(record)
            if source is not None:
                yield record.parent.name.split("-")[0], source
        for link in site.glob("*.egg-link"):  # setup.py develop, before PEP 660
            first = link.read_text(encoding="utf-8", errors="replace").partition("\n")[0]
            yield link.stem, Path(first.strip())


def _editable_dir(record: Path) -> Path | None:
    try:
        found = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable: not ours to judge
    url = found.get("url", "") if isinstance(found, dict) else ""
    editable = isinstance(found, dict) and found.get("dir_info", {}).get("editable") is True
    if not (editable and url.startswith("file:")):
        return None
    return Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
