"""Where a repository's tests run: one protocol, backends registered by ``type``.

An environment is keyed by the fingerprint of what it is made of (the
interpreter, the install commands, the commit, the plugin). ``create`` makes
the empty base, ``install`` puts the project and the plugin in, ``run`` runs a
command against a repository work tree, isolated from the network unless
asked otherwise, with resource limits and a clean set of variables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from orchestrator.pipeline.process import CommandResult
from orchestrator.pipeline.specs import RepoSpec

if TYPE_CHECKING:
    from orchestrator.pipeline.engine import RunContext


def resolve_command(argv: Sequence[str], python: str, bin_dir: Path | None = None) -> list[str]:
    """``pytest`` and ``python`` mean the environment's; other tools its bin/, if there."""
    head, *rest = argv
    if head == "pytest":
        return [python, "-m", "pytest", *rest]
    if head in ("python", "python3"):
        return [python, *rest]
    if bin_dir is not None and (bin_dir / head).exists():
        return [str(bin_dir / head), *rest]
    return [head, *rest]


class Environment(Protocol):
    backend: str
    key: str

    def exists(self) -> bool:
        """Whether a complete environment with this key is already there."""

    def stale(self, repo: Path) -> str | None:
        """Why the complete environment can no longer serve ``repo`` (None: it can).

        A virtualenv records its checkout's absolute path: a moved cache or a
        deleted checkout leaves one that imports nothing of the project.
        """

    def create(self, log: Path) -> None:
        """Make the base: an empty virtualenv, or the base and instance image."""

    def install(self, repo: Path, log: Path) -> None:
        """Install the project from ``repo`` and the featurebench plugin."""

    def run(
        self,
        argv: Sequence[str],
        *,
        repo: Path,
        timeout: float | None,
        log: Path | None = None,
        network: bool = False,
        pythonpath: Sequence[str] = (),
        writable: Sequence[Path] = (),
        finished: Callable[[], bool] | None = None,
    ) -> CommandResult:
        """Run ``argv`` (``pytest ...`` or ``python ...``) in ``repo``; outputs stay in ``repo``.

        ``pythonpath`` names directories of ``repo`` (``.`` for itself) that come
        first on ``sys.path``: a work tree other than the one the project was
        installed from is then the one its tests import. ``writable`` names the
        directories outside ``repo`` the command may write (the plugin's records);
        the environment itself stays read-only. Once ``finished()`` is true the
        command has a short grace to exit before its tree is killed.
        """

    def remove(self) -> None:
        """Delete the environment."""

    def check_availability(self) -> bool:
        """Whether the tool that makes this kind of environment is installed here."""

    def install_py_deps(self, deps: Path | str | Sequence[str], log: Path) -> None:
        """Install a requirements file, a list of requirements, or a library's directory."""

    def run_cmd(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        timeout: float | None = None,
        log: Path | None = None,
        network: bool = False,
    ) -> CommandResult:
        """Run ``argv`` in this environment, in ``cwd`` (the environment's own root by default)."""


def make_environment(ctx: RunContext, key: str, spec: RepoSpec) -> Environment:
    """The ``environments`` component: ``--backend``, else the spec's ``env_manager``."""
    from orchestrator.pipeline.registry import registry

    # "local" is --backend's default, so it defers to a spec that names its manager.
    name = spec.env_manager if ctx.backend == "local" and spec.env_manager else ctx.backend
    factory = registry("environments").get(name)
    environment: Environment = factory(key, spec, ctx)
    return environment
