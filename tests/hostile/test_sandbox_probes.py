"""The code under test, run through the local backend, tries to escape; each probe is contained.

Every probe runs twice: under bubblewrap, and on a machine without it (bwrap
hidden from PATH), where the sandbox is built with ``unshare``.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.environments.local import LocalEnvironment
from orchestrator.environments.sandbox import PROCESS_LIMIT, SandboxUnavailable
from orchestrator.pipeline.process import CommandResult
from orchestrator.pipeline.pytest_runs import run_pytest
from orchestrator.pipeline.specs import RepoSpec


def probe(env: LocalEnvironment, tree: Path, code: str, timeout: float = 60) -> CommandResult:
    """Run ``code`` with the environment's python in ``tree``, as a test would."""
    return env.run(["python", "-c", textwrap.dedent(code)], repo=tree, timeout=timeout)


def processes_in(tree: Path) -> list[str]:
    """The processes of this machine whose working directory is ``tree``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(entry / "cwd") == str(tree.resolve()):
                found.append(entry.name)
        except OSError:
            pass
    return found


def test_loopback_is_up_and_the_network_is_down(
    environment: LocalEnvironment, work_tree: Path
) -> None:
    """A local server works; pypi.org is out of reach."""
    done = probe(
        environment,
        work_tree,
        """
        import socket
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname(), timeout=5)
        print("loopback")
        try:
            socket.create_connection(("pypi.org", 443), timeout=5)
            print("online")
        except OSError:
            print("offline")
        """,
    )
    assert done.output.split() == ["loopback", "offline"], done.output


def test_the_users_home_is_not_there(environment: LocalEnvironment, work_tree: Path) -> None:
    """A file in the user's home cannot be read, and nothing can be written there."""
    secret = Path.home() / f".fbench-hostile-{uuid.uuid4().hex}"
    secret.write_text("home secret")
    try:
        done = probe(
            environment,
            work_tree,
            f"""
            import os
            for action in (lambda: open({str(secret)!r}).read(),
                           lambda: open({str(secret)!r} + ".w", "w").write("x"),
                           lambda: open(os.path.expanduser("~/.bashrc-pwned"), "w").write("x")):
                try:
                    print("reached", action())
                except OSError as exc:
                    print("blocked", type(exc).__name__)
            """,
        )
        assert "home secret" not in done.output
        assert done.output.split().count("blocked") == 2, done.output
        assert not Path(str(secret) + ".w").exists()
        assert not (Path.home() / ".bashrc-pwned").exists()
    finally:
        secret.unlink()
        Path(str(secret) + ".w").unlink(missing_ok=True)
        (Path.home() / ".bashrc-pwned").unlink(missing_ok=True)


def test_the_cache_and_other_runs_are_not_there_and_the_environment_is_read_only(
    environment: LocalEnvironment, work_tree: Path, tmp_path: Path
) -> None:
    """Cache files, another run's log and the system are out of reach; site-packages is read-only."""
    cache = environment.root.parent.parent
    (cache / "results").mkdir(exist_ok=True)
    (cache / "results" / "entry.json").write_text('{"secret": "cached"}')
    other_run = tmp_path / "out" / "2026-01-01" / "00-00-00" / "logs"
    other_run.mkdir(parents=True)
    (other_run / "run.log").write_text("other run's log")
    targets = {
        "read-cache": f"open({str(cache / 'results' / 'entry.json')!r}).read()",
        "write-cache": f"open({str(cache / 'results' / 'new.json')!r}, 'w').write('x')",
        "read-run": f"open({str(other_run / 'run.log')!r}).read()",
        "pth": "open(site.getsitepackages()[0] + '/evil.pth', 'w').write('import os')",
        "system": "open('/usr/lib/fbench-evil', 'w').write('x')",
    }
    code = "import site\n" + "".join(
        f"try:\n    print({name!r}, 'reached', {action})\n"
        f"except OSError as exc:\n    print({name!r}, 'blocked')\n"
        for name, action in targets.items()
    )
    done = probe(environment, work_tree, code)
    blocked = {line.split()[0] for line in done.output.splitlines() if line.endswith("blocked")}
    assert blocked == set(targets), done.output
    assert not list(environment.root.rglob("evil.pth"))
    assert not (cache / "results" / "new.json").exists()


def test_tmp_is_private_and_the_work_tree_writable(
    environment: LocalEnvironment, work_tree: Path
) -> None:
    """What the code writes to /tmp stays in its sandbox; the work tree is written for real."""
    name = f"/tmp/fbench-hostile-{uuid.uuid4().hex}"
    done = probe(
        environment,
        work_tree,
        f"open({name!r}, 'w').write('x'); open('written.txt', 'w').write('tree')",
    )
    assert done.ok, done.output
    assert not Path(name).exists()
    assert (work_tree / "written.txt").read_text() == "tree"


def test_no_secret_of_fbench_can_be_read_from_proc(
    environment: LocalEnvironment, work_tree: Path
) -> None:
    """fbench's processes are not there: no environ of theirs, with its token, can be read."""
    # /proc/<pid>/environ shows what a process started with: one started with the secret.
    secret = {**os.environ, "FBENCH_HOSTILE_API_TOKEN": "s3cret-token"}
    holder = subprocess.Popen(["sleep", "60"], env=secret)
    try:
        done = probe(
            environment,
            work_tree,
            f"""
            import glob
            seen = []
            for path in glob.glob("/proc/[0-9]*/environ") + ["/proc/{holder.pid}/environ"]:
                try:
                    seen.append(open(path, "rb").read().decode(errors="replace"))
                except OSError:
                    pass
            print("pids", len(glob.glob("/proc/[0-9]*")))
            print("\\n".join(seen))
            """,
        )
    finally:
        holder.kill()
        holder.wait()
    assert "s3cret-token" not in done.output
    pids = int(done.output.split()[1])
    assert pids < 5, done.output  # the sandbox's own: its init, the guard, python


def test_a_fork_bomb_is_bounded(environment: LocalEnvironment, work_tree: Path) -> None:
    """Forking stops at the process limit, and every child is gone when the command ends."""
    done = probe(
        environment,
        work_tree,
        """
        import os, time
        started = 0
        for _ in range(3000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            started += 1
        print("started", started)
        """,
        timeout=120,
    )
    started = int(done.output.split()[-1])
    assert 10 < started < PROCESS_LIMIT, done.output
    assert processes_in(work_tree) == []


def test_a_child_left_running_after_the_command_dies_with_it(
    environment: LocalEnvironment, work_tree: Path
) -> None:
    """A child in a session of its own, still beating after the command ended, is killed."""
    done = probe(
        environment,
        work_tree,
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                while True:
                    open("heartbeat", "w").write(str(time.time()))
                    time.sleep(0.2)
            os._exit(0)
        time.sleep(1)
        print("parent done")
        """,
    )
    assert "parent done" in done.output
    time.sleep(1)
    beat = (work_tree / "heartbeat").read_text()
    time.sleep(1.5)
    assert (work_tree / "heartbeat").read_text() == beat, "the child is still running"


def test_a_child_holding_the_pipe_does_not_outrun_the_timeout(
    environment: LocalEnvironment, work_tree: Path
) -> None:
    """On a timeout the whole tree dies, even a child in a new session that holds the output."""
    started = time.monotonic()
    done = probe(
        environment,
        work_tree,
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(40)
            os._exit(0)
        time.sleep(40)
        """,
        timeout=3,
    )
    assert done.timed_out
    assert time.monotonic() - started < 15


HANGING_TESTS = """\
import socket
import threading

SERVER = socket.create_server(("127.0.0.1", 0))
# A non-daemon thread blocked on a socket: the interpreter waits for it at exit.
threading.Thread(target=SERVER.accept).start()


def test_one():
    assert True
"""


def test_a_session_that_ended_is_not_waited_for_until_the_timeout(
    environment: LocalEnvironment, work_tree: Path, tmp_path: Path
) -> None:
    """Once the session-end record is written the process gets a short grace, then its records count."""
    (work_tree / "test_hang.py").write_text(HANGING_TESTS)
    started = time.monotonic()
    run = run_pytest(
        environment,
        ["pytest", "-q", "-p", "no:cacheprovider", "test_hang.py"],
        repo=work_tree,
        records=tmp_path / "logs" / "records.jsonl",
        timeout=40,
        log=tmp_path / "logs" / "pytest.log",
    )
    assert time.monotonic() - started < 25
    assert run.complete, run.why_incomplete()
    assert run.outcomes() == {"test_hang.py::test_one": "passed"}
    assert run.result.returncode == 0


def test_without_any_sandbox_the_tests_are_refused_unless_asked(
    built: tuple[RepoSpec, Path, Path],
    path_without_namespaces: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """No bubblewrap, no unshare: one line that says how to install it; --no-sandbox runs."""
    monkeypatch.setenv("PATH", path_without_namespaces)
    spec, cache, repo = built
    with pytest.raises(SandboxUnavailable, match="install bubblewrap"):
        LocalEnvironment("hostile-tiny", spec, cache)
    specs = tmp_path / "specs.py"
    specs.write_text(f"SPECS_TINY = {{'repository': {str(repo)!r}}}\n")
    command = ["build-cases", "--config-path", str(specs), "--output-dir", str(tmp_path / "out")]
    refused = CliRunner().invoke(cli, [*command, "--cache-dir", str(cache)])
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        "fbench: error: no sandbox for the tests on this machine:"
        " install bubblewrap (apt-get install bubblewrap) or pass --no-sandbox"
    ]
    assert not (tmp_path / "out").exists()
    unconfined = LocalEnvironment("hostile-tiny", spec, cache, sandboxed=False)
    done = unconfined.run(["python", "-c", "import os; print(os.getcwd())"], repo=repo, timeout=60)
    assert done.output.strip() == str(repo)
