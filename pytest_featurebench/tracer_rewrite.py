"""Tracer backend for Python before 3.12: project modules rewritten as they load.

An import hook, first on ``sys.meta_path`` (as pytest's assertion rewriting
is), hands the project's own source modules to a loader that compiles them
with one statement added at the top of every function body::

    if KEY not in SETTLED: SETTLED.first_call(KEY)

``KEY`` is an int per function and ``SETTLED`` the tracer's set object itself,
put into the compiled code as a constant (``compile()`` only accepts plain
constants, so a placeholder string is swapped for it in ``co_consts``). A
settled function costs two constant loads and one set lookup per call;
foreign code is not touched at all, and no profile or trace hook is set, so
coverage, debuggers and suites that profile themselves keep their hooks.

The first calls of a function in a unit go to ``Sightings``, which walks
the frames once per call, until the function is settled for the unit.

Line numbers do not move: the added statement carries the location of the
body's first statement, which runs on every call anyway (so tracebacks,
coverage lines and per-test contexts stay as they were). It goes after the
docstring, and after ``global``/``nonlocal``, which compile to no code and
whose line is never reported as run.

Rewritten modules are compiled from source at every run and never written
to ``__pycache__``, so the usual bytecode cache never holds our code.
"""

from __future__ import annotations

import ast
import sys
import warnings
from importlib.machinery import ModuleSpec, SourceFileLoader
from itertools import count
from types import CodeType, FunctionType, ModuleType
from typing import Any, Callable, Dict, List, Sequence, Tuple  # noqa: UP035 - Python 3.9+

from pytest_featurebench.scope import Kind, ProjectScope
from pytest_featurebench.sightings import SightingTracer

_PLACEHOLDER = "\x00featurebench-settled\x00"
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DECLARATIONS = (ast.Global, ast.Nonlocal)
_Codes = Dict[Tuple[str, int], CodeType]  # noqa: UP006 - (name, first line) -> code


class Settled(set):  # type: ignore[type-arg]
    """The keys of functions settled in this unit; the constant every probe reads."""

    __slots__ = ("first_call",)
    first_call: Callable[[int], None]


class RewriteTracer(SightingTracer):
    name = "rewrite"

    def __init__(self, scope: ProjectScope):
        super().__init__(scope)
        self._scope = scope
        self._settled = Settled()
        self._settled.first_call = self._first_call
        self._hook = ProjectImportHook(scope, self._settled)
        sys.meta_path.insert(0, self._hook)
        for module in list(sys.modules.values()):
            self._hook.rewrite_loaded(module)

    def start(self) -> None:
        self._sightings.reset()
        self._settled.clear()
        self._recording = True

    def resume(self) -> None:
        self._recording = True

    def close(self) -> None:
        self._recording = False
        if self._hook in sys.meta_path:
            sys.meta_path.remove(self._hook)

    def _first_call(self, key: int) -> None:
        if not self._recording:
            return
        frame = sys._getframe(1)  # the rewritten function's own frame
        function = self._scope.classify(frame.f_code)[1]
        if function is not None and self._sightings.see(function, frame):
            self._settled.add(key)


class ProjectImportHook:
    """A meta path finder that gives the project's source modules the rewriting loader.

    It asks the finders behind it, so editable installs' own finders are
    honoured, and returns their spec unchanged for every other module.
    """

    def __init__(self, scope: ProjectScope, settled: Settled):
        self._scope = scope
        self._settled = settled
        self._keys = count()

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        spec = self._others_spec(name, path, target)
        loader = None if spec is None else spec.loader
        # Exactly SourceFileLoader: a subclass (pytest's rewriter, another
        # tool's) has its own idea of the code and is left alone.
        if type(loader) is SourceFileLoader and spec is not None and self._is_project(spec):
            spec.loader = RewritingLoader(name, str(spec.origin), self)
        return spec

    def _is_project(self, spec: ModuleSpec) -> bool:
        origin = spec.origin
        return origin is not None and self._scope.classify_file(origin)[0] is Kind.PROJECT

    def _others_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> ModuleSpec | None:
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: ModuleSpec | None = find(name, path, target)
            if spec is not None:
                return spec
        return None

    def compile(self, source: bytes, filename: str) -> CodeType:
        """The module's code with a probe at the top of every function."""
        # Compiling from source warns (SyntaxWarning, DeprecationWarning for
        # "\d") where a plain run reads cached bytecode silently; under -W
        # error that would fail the import only when traced.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, filename)
            for node in ast.walk(tree):
                if isinstance(node, _FUNCTIONS):
                    add_probe(node, next(self._keys))
            code = compile(tree, filename, "exec", dont_inherit=True)
        return swap_placeholder(code, self._settled)

    def rewrite_loaded(self, module: ModuleType) -> None:
        """Give a project module imported before the hook its probes, function by function.

        The project may itself be a pytest plugin, imported before any hook of
        ours runs. Its functions get the rewritten code objects of the same
        name and first line (CPython allows swapping ``__code__`` when the
        free variables agree); functions they define later come with probes.
        """
        filename = getattr(module, "__file__", None)
        if not isinstance(filename, str) or not filename.endswith(".py"):
            return
        if self._scope.classify_file(filename)[0] is not Kind.PROJECT:
            return
        try:
            with open(filename, "rb") as source:
                code = self.compile(source.read(), filename)
        except (OSError, SyntaxError, ValueError):
            return  # left as it is: untraced, as before
        _swap_codes(module, _codes_by_line(code), module.__name__, set())


def _codes_by_line(code: CodeType) -> _Codes:
    found: _Codes = {}
    for const in code.co_consts:
        if type(const) is CodeType:
            found[(const.co_name, const.co_firstlineno)] = const
            found.update(_codes_by_line(const))
    return found


def _swap_codes(
    owner: Any, codes: dict[tuple[str, int], CodeType], module: str, seen: set[int]
) -> None:
    """Swap in the rewritten code of every function of ``owner``, and of its classes."""
    seen.add(id(owner))
    for value in list(getattr(owner, "__dict__", {}).values()):
        for function in _functions_in(value):
            old = function.__code__
            new = codes.get((old.co_name, old.co_firstlineno))
            if (
                new is not None
                and new.co_filename == old.co_filename
                and (new.co_freevars == old.co_freevars)
            ):
                function.__code__ = new
        if isinstance(value, type) and value.__module__ == module and id(value) not in seen:
            _swap_codes(value, codes, module, seen)


def _functions_in(value: Any) -> list[FunctionType]:
    """The plain functions behind a namespace entry: methods, properties, wrappers."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, FunctionType)]
    found: list[FunctionType] = []
    while isinstance(value, FunctionType) and len(found) < 8:
        found.append(value)
        value = getattr(value, "__wrapped__", None)  # functools.wraps decorators
    return found


class RewritingLoader(SourceFileLoader):
    """Loads a project module from source through :meth:`ProjectImportHook.compile`."""

    def __init__(self, fullname: str, path: str, hook: ProjectImportHook):
        super().__init__(fullname, path)
        self._hook = hook

    def get_code(self, fullname: str) -> CodeType:
        # Not SourceFileLoader.get_code: that would return (or write) the
        # cached .pyc, which holds the code without probes.
        return self._hook.compile(self.get_data(self.path), self.path)


def add_probe(function: ast.FunctionDef | ast.AsyncFunctionDef, key: int) -> None:
    """Insert the probe before the first statement of the body that runs."""
    body = function.body
    at = 1 if body and _is_docstring(body[0]) else 0
    while at < len(body) - 1 and isinstance(body[at], _DECLARATIONS):
        at += 1
    where = body[min(at, len(body) - 1)]
    probe = _probe_statement(key)
    line = min([where.lineno] + [d.lineno for d in getattr(where, "decorator_list", [])])
    for node in ast.walk(probe):
        if "lineno" in node._attributes:
            node.lineno = node.end_lineno = line  # type: ignore[attr-defined]
            node.col_offset = node.end_col_offset = where.col_offset  # type: ignore[attr-defined]
    body.insert(at, probe)


def _probe_statement(key: int) -> ast.If:
    settled = ast.Constant(_PLACEHOLDER)
    first_call = ast.Attribute(settled, "first_call", ast.Load())
    call = ast.Call(first_call, [ast.Constant(key)], [])
    test = ast.Compare(ast.Constant(key), [ast.NotIn()], [ast.Constant(_PLACEHOLDER)])
    return ast.If(test, [ast.Expr(call)], [])


def _is_docstring(statement: ast.stmt) -> bool:
    value = getattr(statement, "value", None)
    return (
        isinstance(statement, ast.Expr)
        and isinstance(value, ast.Constant)
        and (isinstance(value.value, str))
    )


def swap_placeholder(code: CodeType, settled: Settled) -> CodeType:
    """``code`` and the code nested in it, with the placeholder replaced by ``settled``."""
    consts: List[Any] = []  # noqa: UP006
    for const in code.co_consts:
        if type(const) is CodeType:
            const = swap_placeholder(const, settled)
        elif type(const) is str and const == _PLACEHOLDER:
            const = settled
        consts.append(const)
    return code.replace(co_consts=tuple(consts))
