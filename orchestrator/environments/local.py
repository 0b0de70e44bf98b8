"""The local backend: one uv virtualenv per environment fingerprint.

The virtualenv lives under ``<cache-dir>/envs/<key>``. It counts as made only
once the marker file is written at the very end, so a run killed while
installing leaves a directory that the next run deletes and builds again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from orchestrator.environments import resolve_command, sandbox
from orchestrator.environments.binding import MARKER, marker_text, why_unbound
from orchestrator.environments.interpreters import find_interpreter
from orchestrator.environments.plugin_wheel import build_plugin_wheel
from orchestrator.errors import CommandError
from orchestrator.pipeline.process import CommandResult, run_command
from orchestrator.pipeline.specs import RepoSpec

_IMPORTS_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        print("featurebench-missing:", name)
"""


class LocalEnvironment:
    backend = "local"

    def __init__(
        self,
        key: str,
        spec: RepoSpec,
        cache_dir: Path,
        run_env: dict[str, str] | None = None,
        *,
        sandboxed: bool = True,
    ):
        self.key = key
        # Decided now: a machine that cannot confine the tests refuses before any run.
        self.sandbox_mode = sandbox.sandbox_mode() if sandboxed else None
        self.spec = spec
        self.root = cache_dir / "envs" / key
        self.wheels = cache_dir / "wheels"
        self.downloads = cache_dir / "downloads"  # pip's and uv's caches, shared by environments
        self.run_env = run_env or {}
        self.python = self.root / "venv" / "bin" / "python"

    def exists(self) -> bool:
        return (self.root / MARKER).is_file()

    def stale(self, repo: Path) -> str | None:
        """Why this complete environment no longer imports the project from ``repo``."""
        return why_unbound(self.root, self.python, repo)

    def create(self, log: Path) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)  # an earlier attempt that never finished
        (self.root / "home").mkdir(parents=True)
        python = find_interpreter(self.spec.python_version)
        uv = [sys.executable, "-m", "uv", "venv", "--seed", "--python", python]
        env = {**self._install_env(), "UV_PYTHON_DOWNLOADS": "never"}
        run_command([*uv, str(self.root / "venv")], env=env, log_path=log, check=True, timeout=600)

    def install(self, repo: Path, log: Path) -> None:
        # pip_packages first: one of them may depend on the project itself (pytest needs
        # iniconfig and pluggy), and installed after the project it would replace the
        # work tree's editable install with the index's copy. Exports install in this order.
        if self.spec.pip_packages:
            self._pip(["install", *self.spec.pip_packages], repo, log)
        for command in [*self.spec.pre_install, self.spec.install]:
            self._shell(command, repo, log)
        self._install_plugin(repo, log)
        (self.root / MARKER).write_text(marker_text(self.key, repo))

    def _install_plugin(self, repo: Path, log: Path) -> None:
        # --no-deps, then only what is missing: the project's own pins stay as they are.
        # msgspec depends on nothing, so a missing one comes in the plugin's own pip run
        # (each pip run costs about a CPU second).
        wheel = build_plugin_wheel(self.wheels)
        missing = self._missing(("pytest", "msgspec"), repo)
        extra = ["msgspec"] if "msgspec" in missing else []
        self._pip(["install", "--no-deps", "--force-reinstall", str(wheel), *extra], repo, log)
        if "pytest" in missing:
            self._pip(["install", "pytest"], repo, log)

    def _missing(self, modules: tuple[str, ...], repo: Path) -> list[str]:
        """Which of ``modules`` the environment cannot import, found by one interpreter."""
        command = [str(self.python), "-c", _IMPORTS_PROBE, *modules]
        probe = run_command(command, env=self._install_env(), cwd=repo)
        if not probe.ok:  # the interpreter itself failed: install both, as before
            return list(modules)
        lines = probe.output.splitlines()  # warnings on stderr may come too
        return [m for m in modules if f"featurebench-missing: {m}" in lines]

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
        command = resolve_command(argv, str(self.python), self.python.parent)
        env = sandbox.clean_environment(
            [str(self.python.parent)], str(self.root / "home"), self.run_env
        )
        env["VIRTUAL_ENV"] = str(self.python.parent.parent)
        if pythonpath:
            # Ahead of the editable install, which points at the spec's own checkout.
            env["PYTHONPATH"] = os.pathsep.join(str((repo / d).resolve()) for d in pythonpath)
        if self.sandbox_mode is not None:
            env["HOME"] = sandbox.HOME_INSIDE
        with self._confinement(repo, timeout, network, writable) as prefix:
            return run_command(
                [*prefix, *command],
                cwd=repo,
                env=env,
                timeout=timeout,
                log_path=log,
                finished=finished,
            )

    @contextlib.contextmanager
    def _confinement(
        self, repo: Path, timeout: float | None, network: bool, writable: Sequence[Path]
    ) -> Iterator[list[str]]:
        if self.sandbox_mode is None:  # --no-sandbox: the user's explicit choice
            yield sandbox.limits_prefix(timeout)
            return
        view = sandbox.View(
            repo.resolve(),
            readable=self._readable(),
            writable=tuple(p.resolve() for p in writable),
            network=network,
            mode=self.sandbox_mode,
        )
        with sandbox.confined(view, timeout) as prefix:
            yield prefix

    def _readable(self) -> tuple[Path, ...]:
        """The environment and its interpreter's installation, which may be in the cache."""
        base = sandbox.interpreter_prefix(self.python.parent.parent)
        return (self.root.resolve(), *([base] if base else []))

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _install_env(self) -> dict[str, str]:
        extra = {**sandbox.install_variables(), **self.run_env}
        env = sandbox.clean_environment([str(self.python.parent)], str(self.root / "home"), extra)
        env["VIRTUAL_ENV"] = str(self.python.parent.parent)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env.setdefault("PIP_CACHE_DIR", str(self.downloads / "pip"))
        env.setdefault("UV_CACHE_DIR", str(self.downloads / "uv"))
        return env

    def _shell(self, command: str, repo: Path, log: Path) -> None:
        # Install commands are shell text by nature (seed 000); they run with network.
        result = run_command(
            ["sh", "-c", command], cwd=repo, env=self._install_env(), log_path=log, timeout=1800
        )
        if not result.ok:
            raise CommandError(
                f"install step {command!r} failed (log: {log}): {result.tail(300).strip()}"
            )

    def _pip(self, args: list[str], repo: Path, log: Path) -> None:
        self._shell(" ".join(["python", "-m", "pip", *map(_quote, args)]), repo, log)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
