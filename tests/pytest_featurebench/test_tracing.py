"""``--fb-trace`` under both backends: which project functions each test runs, and how deep."""

from __future__ import annotations

import pytest

from pytest_featurebench import records as rec
from tests.conftest import Inner, InnerRun

SHAPES = """\
REGISTRY = []


def register(cls):
    REGISTRY.append(cls.__name__)
    return cls


@register
class Circle:
    def area(self):
        return 3 * square_of(2)


@register
class Square:
    def area(self):
        return square_of(2)


def square_of(x):
    return multiply(x, x)


def multiply(a, b):
    return a * b


def describe():
    return "first"


def describe():  # noqa: F811 - redefined on purpose: the two must not merge
    return "second"


def total_area(shapes):
    return sum(shape.area() for shape in shapes)
"""

THREADS = """\
import threading


def run_in_thread(results):
    thread = threading.Thread(target=worker, args=(results,))
    thread.start()
    thread.join()


def worker(results):
    results.append(compute())


def compute():
    return 42
"""

LAZY = """\
from pkg.shapes import multiply


def build_table():
    return {n: multiply(n, n) for n in range(3)}


TABLE = build_table()


def lookup(n):
    return TABLE[n]
"""

HELPERS = """\
from pkg.shapes import describe


def call_describe():
    return describe()
"""

CONFTEST = """\
import sys

import pytest

import pkg.fixtures


def keep_profile_hook(frame, event, arg):
    pass


def pytest_configure(config):
    sys.setprofile(keep_profile_hook)


@pytest.fixture
def prepared():
    value = pkg.fixtures.set_up()
    yield value
    pkg.fixtures.tear_down()
    assert sys.getprofile() is keep_profile_hook, "the tracer did not restore the profile hook"
"""

FIXTURES = """\
def set_up():
    return "ready"


def tear_down():
    return "gone"
"""

TESTS = """\
from pkg import shapes
from pkg.threads import run_in_thread
from tests.helpers import call_describe


def test_circle():
    assert shapes.Circle().area() == 12


def test_square():
    assert shapes.Square().area() == 4


def test_describe():
    assert call_describe() == "second"


def test_thread():
    results = []
    run_in_thread(results)
    assert results == [42]


def test_direct_after_nested():
    assert shapes.square_of(3) == 9
    assert shapes.multiply(2, 2) == 4


def test_lazy_import():
    from pkg import lazy

    assert lazy.lookup(2) == 4


def test_fixture(prepared):
    assert prepared == "ready"


def test_total():
    assert shapes.total_area([shapes.Square()]) == 4
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(
        **{
            "pkg/__init__": "",
            "pkg/shapes": SHAPES,
            "pkg/threads": THREADS,
            "pkg/lazy": LAZY,
            "pkg/fixtures": FIXTURES,
            "pkg/sub/__init__": "",
            "tests/__init__": "",
            "tests/helpers": HELPERS,
            "tests/conftest": CONFTEST,
            "tests/test_shapes": TESTS,
        }
    )
    return pytester


def line_of(source: str, text: str, nth: int = 0) -> int:
    """The 1-based line of the nth line starting with ``text``."""
    found = [n for n, line in enumerate(source.splitlines(), 1) if line.lstrip().startswith(text)]
    return found[nth]


def key(path: str, qualname: str, source: str, text: str, nth: int = 0) -> str:
    return f"pkg/{path}::{qualname}:{line_of(source, text, nth)}"


@pytest.fixture
def traced(project: pytest.Pytester, inner: Inner) -> InnerRun:
    done = inner.trace(project.path)
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    return done


def calls_of(traced: InnerRun, test: str) -> dict[str, int]:
    return traced.traces()[f"tests/test_shapes.py::{test}"]


def test_same_named_methods_stay_apart(traced: InnerRun) -> None:
    """Circle.area and Square.area are two functions; each test reaches its own."""
    circle = key("shapes.py", "Circle.area", SHAPES, "def area", 0)
    square = key("shapes.py", "Square.area", SHAPES, "def area", 1)
    assert calls_of(traced, "test_circle")[circle] == 1
    assert square not in calls_of(traced, "test_circle")
    assert calls_of(traced, "test_square")[square] == 1
    assert circle not in calls_of(traced, "test_square")


def test_redefined_functions_stay_apart(traced: InnerRun) -> None:
    """Of two ``describe`` in one file, only the one that runs is recorded."""
    second = key("shapes.py", "describe", SHAPES, "def describe", 1)
    first = key("shapes.py", "describe", SHAPES, "def describe", 0)
    calls = calls_of(traced, "test_describe")
    assert calls == {second: 1}  # helpers under tests/ are test code: depth counts from them
    assert first not in calls


def test_depth_counts_frames_from_the_test(traced: InnerRun) -> None:
    """Depth 1 is called by the test; each call further down adds one."""
    calls = calls_of(traced, "test_circle")
    assert calls[key("shapes.py", "square_of", SHAPES, "def square_of")] == 2
    assert calls[key("shapes.py", "multiply", SHAPES, "def multiply")] == 3


def test_depth_is_the_smallest_seen(traced: InnerRun) -> None:
    """A function reached deep first and directly later has depth 1."""
    calls = calls_of(traced, "test_direct_after_nested")
    assert calls[key("shapes.py", "multiply", SHAPES, "def multiply")] == 1
    assert calls[key("shapes.py", "square_of", SHAPES, "def square_of")] == 1


def test_comprehensions_add_no_depth(traced: InnerRun) -> None:
    """A generator expression between two functions is not a call level of its own."""
    calls = calls_of(traced, "test_total")
    assert calls[key("shapes.py", "total_area", SHAPES, "def total_area")] == 1
    assert calls[key("shapes.py", "Square.area", SHAPES, "def area", 1)] == 2
    assert calls[key("shapes.py", "square_of", SHAPES, "def square_of")] == 3


def test_calls_in_threads_count_for_the_test(traced: InnerRun) -> None:
    """A thread started by the test runs project code that is the test's."""
    calls = calls_of(traced, "test_thread")
    assert key("threads.py", "run_in_thread", THREADS, "def run_in_thread") in calls
    assert key("threads.py", "worker", THREADS, "def worker") in calls
    assert key("threads.py", "compute", THREADS, "def compute") in calls


def test_import_time_calls_are_recorded_apart(traced: InnerRun) -> None:
    """Decorators run at import, and a module imported inside a test, are import time."""
    imports = traced.import_time()
    register = key("shapes.py", "register", SHAPES, "def register")
    build = key("lazy.py", "build_table", LAZY, "def build_table")
    assert register in imports
    assert build in imports
    assert all(register not in calls for calls in traced.traces().values())
    lazy = calls_of(traced, "test_lazy_import")
    assert build not in lazy
    assert lazy[key("lazy.py", "lookup", LAZY, "def lookup")] == 1


def test_setup_counts_and_teardown_does_not(traced: InnerRun) -> None:
    """Fixture set-up is part of the test; teardown is not."""
    calls = calls_of(traced, "test_fixture")
    assert key("fixtures.py", "set_up", FIXTURES, "def set_up") in calls
    assert key("fixtures.py", "tear_down", FIXTURES, "def tear_down") not in calls


def test_only_project_code_is_recorded(traced: InnerRun) -> None:
    """Test files, helpers under tests/, site-packages and the plugin are left out."""
    every = {k for calls in traced.traces().values() for k in calls} | set(traced.import_time())
    assert every
    assert all(k.startswith("pkg/") for k in every), sorted(every)


def test_trace_roots_narrow_the_project(project: pytest.Pytester, inner: Inner) -> None:
    """``--fb-trace-root`` (repeatable) limits the project to those directories."""
    done = inner.trace(project.path, "--fb-trace-root", "pkg/sub", "--fb-trace-root", "tests")
    assert done.result.returncode == 0, done.result.stdout
    assert not any(done.traces().values())
    assert not done.import_time()
    done = inner.trace(project.path, "--fb-trace-root", "pkg/sub", "--fb-trace-root", "pkg")
    worker = key("threads.py", "worker", THREADS, "def worker")
    assert worker in done.traces()["tests/test_shapes.py::test_thread"]


def test_the_tracer_name_is_recorded(traced: InnerRun, inner: Inner) -> None:
    """The session record says which backend traced the run."""
    start = traced.records[0]
    assert isinstance(start, rec.SessionStart)
    assert start.tracer == inner.tracer


def test_xdist_workers_records_reach_the_output(project: pytest.Pytester, inner: Inner) -> None:
    """Under ``-n 2`` every worker's records are merged into the one output file."""
    done = inner.trace(project.path, "-p", "xdist", "-n", "2")
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    assert len(done.traces()) == 8
    assert {r.worker for r in done.of_type(rec.CallTrace)} == {"gw0", "gw1"}
    ends = done.of_type(rec.SessionEnd)
    assert [e.counts for e in ends if e.worker is None] == [{"passed": 8}]
    assert sorted(p.name for p in project.path.glob("records.jsonl*")) == ["records.jsonl"]
    assert f"featurebench: {len(done.records)} records written to" in done.result.stdout
    circle = key("shapes.py", "Circle.area", SHAPES, "def area", 0)
    assert done.traces()["tests/test_shapes.py::test_circle"][circle] == 1


def test_coverage_and_traces_side_by_side(project: pytest.Pytester, inner: Inner) -> None:
    """``--cov`` with ``--fb-trace`` gives both a coverage report and traces."""
    cov = ("-p", "pytest_cov", "--cov=pkg", "--cov-report=term-missing")
    done = inner.trace(project.path, *cov)
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    plain = inner.run(project.path, *cov, out="")

    def report(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if line.startswith(("pkg/", "TOTAL"))]

    assert report(done.result.stdout) == report(plain.result.stdout)
    assert "pkg/shapes.py" in "\n".join(report(done.result.stdout))
    assert len(done.traces()) == 8
    assert calls_of(done, "test_circle")


PROFILING_TESTS = """\
import cProfile
import pstats

from pkg.shapes import multiply, square_of


def test_benchmarked(benchmark):
    assert benchmark(multiply, 2, 3) == 6


def test_profiles_itself():
    profiler = cProfile.Profile()
    profiler.enable()
    assert square_of(3) == 9
    profiler.disable()
    names = {function for _, _, function in pstats.Stats(profiler).stats}
    assert {"square_of", "multiply"} <= names
"""


def test_suites_that_profile_themselves_keep_working(
    project: pytest.Pytester, inner: Inner
) -> None:
    """pytest-benchmark and a test running cProfile pass under tracing, and are traced."""
    (project.path / "tests" / "test_shapes.py").write_text(PROFILING_TESTS)
    done = inner.trace(project.path, "-p", "pytest_benchmark.plugin")
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    multiply = key("shapes.py", "multiply", SHAPES, "def multiply")
    assert multiply in calls_of(done, "test_benchmarked")
    if inner.tracer != "profile":  # cProfile takes the one profile hook from that backend
        assert calls_of(done, "test_profiles_itself")[multiply] == 2


def test_project_modules_imported_before_the_session_are_traced(
    project: pytest.Pytester, inner: Inner
) -> None:
    """A project that is itself a pytest plugin (``-p``) is imported first, and still traced."""
    project.makepyfile(**{"pkg/plugin": "from pkg import shapes\n\nLOADED = shapes.REGISTRY\n"})
    done = inner.trace(project.path, "-p", "pkg.plugin", "-k", "circle or total")
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    assert calls_of(done, "test_circle") == {
        key("shapes.py", "Circle.area", SHAPES, "def area", 0): 1,
        key("shapes.py", "square_of", SHAPES, "def square_of"): 2,
        key("shapes.py", "multiply", SHAPES, "def multiply"): 3,
    }
    assert calls_of(done, "test_total")[key("shapes.py", "total_area", SHAPES, "def total_area")]


FAILING = '''\
def check(value):
    """Refuse negative values."""
    if value < 0:
        raise ValueError(f"negative: {value}")
    return value
'''


def test_tracebacks_do_not_move(project: pytest.Pytester, inner: Inner) -> None:
    """A failure inside project code shows the same traceback, lines and carets, traced or not."""
    project.makepyfile(**{"pkg/checks": FAILING})
    (project.path / "tests" / "test_shapes.py").write_text(
        "from pkg.checks import check\n\n\ndef test_negative():\n    assert check(-1)\n"
    )
    traced = inner.trace(project.path, "--tb=long")
    plain = inner.run(project.path, "--tb=long", out="")

    def failure(stdout: str) -> list[str]:
        section = stdout.split("= FAILURES =")[1].split("short test summary")[0]
        return [line for line in section.splitlines() if not line.startswith("featurebench:")]

    assert "pkg/checks.py:4: ValueError" in failure(traced.result.stdout)
    assert "    def check(value):" in failure(traced.result.stdout)
    assert failure(traced.result.stdout) == failure(plain.result.stdout)
