"""Masking, the analyses before it, and the texts shown to agents after it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.extract.agent_views import interface_stub, rewrite_for_agent_code
from orchestrator.extract.masking import MaskError, Target, locate, mask, module_name, removed_lines
from orchestrator.extract.references import import_time_uses, unique_helpers

KEYS = "src/pkg/keys.py"


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def project(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A small package: ``pkg`` under ``src/`` re-exporting from ``pkg.keys``, and a test."""
    files = {
        "src/pkg/__init__.py": dedent(
            """
            from .keys import hashkey, methodkey

            __all__ = ["hashkey", "methodkey"]
            """
        ),
        KEYS: dedent(
            '''
            """Keys for caches."""

            import functools  # used by the decorator


            def _flatten(args):
                return tuple(args)


            @functools.lru_cache(maxsize=None)
            def hashkey(*args):
                """A hashable key."""
                # flatten first
                return _flatten(args)


            def methodkey(self, *args):
                return hashkey(*args)
            '''
        ),
        "tests/test_keys.py": dedent(
            """
            from pkg import hashkey, methodkey


            def test_hashkey():
                assert hashkey(1) == (1,)
            """
        ),
    }
    return {**files, **(extra or {})}


def imports_ok(tmp_path: Path, files: dict[str, str], statement: str) -> None:
    """Write ``files`` under ``tmp_path`` and run ``statement`` with ``src`` on the path."""
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    result = subprocess.run(
        [sys.executable, "-c", statement],
        cwd=tmp_path / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_module_name_walks_up_packages() -> None:
    """The import root is the first folder without an __init__.py."""
    paths = {"src/pkg/__init__.py", "src/pkg/keys.py", "six.py", "tests/test-x.py"}
    assert module_name("src/pkg/keys.py", paths) == "pkg.keys"
    assert module_name("src/pkg/__init__.py", paths) == "pkg"
    assert module_name("six.py", paths) == "six"
    assert module_name("tests/test-x.py", paths) is None
    assert module_name("README.md", paths) is None


def test_locate_takes_decorators_and_the_last_definition() -> None:
    """A span starts at the first decorator; a redefinition in an if block wins."""
    source = dedent(
        """
        import sys

        @staticmethod
        @other
        def f():
            return 1

        if sys.version_info >= (3, 8):
            def f():
                return 2

        class K:
            try:
                def m(self):
                    pass
            except ImportError:
                pass
        """
    )
    found = locate(source, "f", "m.py")
    assert found is not None
    assert (found.target, found.start, found.end) == (Target("m.py", "f"), 9, 10)
    assert found.source == "    def f():\n        return 2\n"
    method = locate(source, "K.m")
    assert method is not None
    assert (method.start, method.end) == (14, 15)
    assert locate(source, "missing") is None
    assert locate(source, "f.x") is None


def test_mask_removes_a_function_and_its_imports_everywhere(tmp_path: Path) -> None:
    """The re-export in __init__ and the test's import both lose the name; the package imports."""
    files = project()
    masked = mask(files, [Target(KEYS, "hashkey")])
    assert masked.files[KEYS] == dedent(
        '''
        """Keys for caches."""

        import functools  # used by the decorator


        def _flatten(args):
            return tuple(args)


        def methodkey(self, *args):
            return hashkey(*args)
        '''
    )
    assert masked.files["src/pkg/__init__.py"] == dedent(
        """
        from .keys import methodkey

        __all__ = ["methodkey"]
        """
    )
    assert masked.files["tests/test_keys.py"].startswith("from pkg import methodkey\n")
    assert masked.dropped_names == {
        "src/pkg/__init__.py": {"hashkey"},
        KEYS: {"hashkey"},
        "tests/test_keys.py": {"hashkey"},
    }
    [removed] = masked.removed
    assert (removed.start, removed.end) == (10, 14)
    assert removed.source.startswith("@functools.lru_cache(maxsize=None)\ndef hashkey")
    imports_ok(tmp_path, {**files, **masked.files}, "import pkg, pkg.keys")


def test_mask_keeps_aliases_and_other_names() -> None:
    """`from X import a as b, c` keeps `c`; the file's own name for `a` is what it drops."""
    files = project({"tests/test_alias.py": "from pkg.keys import hashkey as hk, methodkey\n"})
    masked = mask(files, [Target(KEYS, "hashkey")])
    assert masked.files["tests/test_alias.py"] == "from pkg.keys import methodkey\n"
    assert masked.dropped_names["tests/test_alias.py"] == {"hk"}


def test_mask_edits_multiline_and_relative_imports() -> None:
    """Parenthesised imports lose just their lines; relative imports resolve to the module."""
    files = project(
        {
            "src/pkg/api.py": dedent(
                """
            from .keys import (
                hashkey,  # the main one
                methodkey,
            )
            from . import keys
            from .keys import methodkey as mk, hashkey as hk
            """
            )
        }
    )
    masked = mask(files, [Target(KEYS, "hashkey")])
    assert masked.files["src/pkg/api.py"] == dedent(
        """
        from .keys import (
            methodkey,
        )
        from . import keys
        from .keys import methodkey as mk
        """
    )


def test_mask_empties_a_try_block_with_pass() -> None:
    """An import that was the whole of a try body leaves `pass` behind."""
    files = project(
        {
            "tests/test_try.py": dedent(
                """
            try:
                from pkg import hashkey
            except ImportError:  # keep me
                hashkey = None
            if True: from pkg import hashkey; x = 1
            """
            )
        }
    )
    masked = mask(files, [Target(KEYS, "hashkey")])
    assert masked.files["tests/test_try.py"] == dedent(
        """
        try:
            pass
        except ImportError:  # keep me
            hashkey = None
        if True: pass; x = 1
        """
    )


def test_mask_edits_every_form_of_all() -> None:
    """Lists, tuples, `+=`, `extend` and `append` forget the dropped names."""
    init = dedent(
        """
        from .keys import *
        __all__ = [
            "hashkey",  # removed
            "methodkey",
        ]
        __all__ += ["hashkey"]
        __all__.extend(["methodkey", "hashkey"])
        __all__.append("hashkey")
        other = ("hashkey", "x")
        if True:
            __all__ = ("methodkey", "hashkey")
        """
    )
    masked = mask(project({"src/pkg/__init__.py": init}), [Target(KEYS, "hashkey")])
    assert masked.files["src/pkg/__init__.py"] == dedent(
        """
        from .keys import *
        __all__ = [
            "methodkey",
        ]
        __all__ += []
        __all__.extend(["methodkey"])
        other = ("hashkey", "x")
        if True:
            __all__ = ("methodkey",)
        """
    )
    # The star import re-exported hashkey, so the test's import loses it too.
    assert masked.files["tests/test_keys.py"].startswith("from pkg import methodkey\n")


CLASSES = dedent(
    '''
    class Cache:
        """A cache."""

        def get(self, key):
            return key

        # the setter below
        def set(self, key, value):
            pass


    class Other:
        def get(self, key):
            return None


    class Empty:
        def only(self):
            return 1


    if True:
        def compat():  # old pythons
            return 2
    '''
)


def test_mask_removes_methods_and_fills_emptied_blocks() -> None:
    """Same-named methods stay apart; an emptied class or if body gets `pass`."""
    files = {"m.py": CLASSES}
    targets = [
        Target("m.py", "Other.get"),
        Target("m.py", "Empty.only"),
        Target("m.py", "compat"),
        Target("m.py", "Cache.set"),
    ]
    masked = mask(files, targets)
    assert masked.files["m.py"] == dedent(
        '''
        class Cache:
            """A cache."""

            def get(self, key):
                return key

            # the setter below


        class Other:
            pass


        class Empty:
            pass


        if True:
            pass
        '''
    )
    assert masked.dropped_names == {"m.py": {"compat"}}
    assert [r.target for r in masked.removed] == targets
    only_docstring = mask(files, [Target("m.py", "Cache.get"), Target("m.py", "Cache.set")])
    assert only_docstring.files["m.py"].startswith('class Cache:\n    """A cache."""\n\n    # the')


def test_masked_methods_still_import(tmp_path: Path) -> None:
    """A masked module with emptied classes and blocks imports cleanly."""
    files = {**project(), "src/pkg/classes.py": CLASSES}
    targets = [Target("src/pkg/classes.py", "Empty.only"), Target("src/pkg/classes.py", "compat")]
    masked = mask(files, [*targets, Target(KEYS, "methodkey")])
    imports_ok(tmp_path, {**files, **masked.files}, "import pkg, pkg.keys, pkg.classes")


def test_mask_takes_a_property_with_its_setter() -> None:
    """A property's getter goes with its `@x.setter`, which is the last definition."""
    source = dedent(
        """
        class K:
            @property
            def x(self):
                return 1

            @x.setter
            def x(self, value):
                pass

            def keep(self):
                pass
        """
    )
    masked = mask({"m.py": source}, [Target("m.py", "K.x")])
    assert masked.files["m.py"] == "class K:\n    def keep(self):\n        pass\n"
    assert masked.removed[0].start == 2


def test_mask_preserves_everything_else_byte_for_byte() -> None:
    """Odd formatting, comments and CRLF line endings outside the span are untouched."""
    source = "x = 1   # odd  spacing\r\n\r\ndef f():\r\n    return 1\r\n\r\n# tail\r\ny = [1,\r\n  2]\r\n"
    masked = mask({"m.py": source}, [Target("m.py", "f")])
    assert masked.files["m.py"] == "x = 1   # odd  spacing\r\n\r\n# tail\r\ny = [1,\r\n  2]\r\n"


def test_mask_errors_name_the_file_and_object() -> None:
    """A missing target or file is a MaskError naming it."""
    with pytest.raises(MaskError, match=r"src/pkg/keys\.py: no nothing to mask"):
        mask(project(), [Target(KEYS, "nothing")])
    with pytest.raises(MaskError, match=r"gone\.py: no such file"):
        mask(project(), [Target("gone.py", "f")])
    with pytest.raises(MaskError, match=r"bad\.py: cannot parse"):
        mask({"bad.py": "def f(:\n"}, [Target("bad.py", "f")])


def test_mask_is_deterministic() -> None:
    """The same input gives the same output, whatever the order of the files."""
    files = project({"src/pkg/api.py": "from .keys import hashkey, methodkey\n"})
    targets = [Target(KEYS, "hashkey"), Target(KEYS, "methodkey")]
    first = mask(files, targets)
    second = mask(dict(reversed(list(files.items()))), targets)
    assert first == second
    assert list(first.files) == sorted(first.files)


def test_removed_lines_counts_code_only() -> None:
    """Blank and comment lines do not count."""
    masked = mask(project(), [Target(KEYS, "hashkey")])
    assert removed_lines(masked.removed) == 4


USES = {
    "src/pkg/__init__.py": "from .keys import hashkey\n",
    KEYS: dedent(
        """
        def hashkey(*args):
            return args


        class Base:
            def m(self):
                return hashkey()


        @hashkey
        def decorated():
            pass


        def default(key=hashkey):
            return key


        def body_only():
            return hashkey(1)


        alias = Base.m

        if __name__ == "__main__":
            hashkey()
        """
    ),
    "src/pkg/sub.py": dedent(
        """
        from pkg import keys as k
        from pkg.keys import hashkey as hk
        from pkg import hashkey as via_init


        class Child(k.Base):
            f = staticmethod(lambda: hk())

            @via_init
            def g(self):
                return hk()
        """
    ),
}


def test_import_time_uses_finds_module_level_references() -> None:
    """Decorators, defaults and base classes count, also through re-exports and module
    aliases; function and lambda bodies and main blocks do not."""
    hashkey, base, method, body_only = (
        Target(KEYS, "hashkey"),
        Target(KEYS, "Base"),
        Target(KEYS, "Base.m"),
        Target(KEYS, "body_only"),
    )
    uses = import_time_uses(USES, [hashkey, base, method, body_only])
    assert uses == {
        hashkey: [f"{KEYS}:10", f"{KEYS}:15", "src/pkg/sub.py:9"],
        base: [f"{KEYS}:23", "src/pkg/sub.py:6"],
        method: [f"{KEYS}:23"],
        body_only: [],
    }


def test_import_time_uses_skips_postponed_annotations() -> None:
    """Annotations count unless the module postpones them."""
    source = "from .keys import hashkey\n\ndef f(x: hashkey) -> None: ...\n"
    files = {**USES, "src/pkg/a.py": source}
    target = Target(KEYS, "hashkey")
    assert "src/pkg/a.py:3" in import_time_uses(files, [target])[target]
    postponed = {**USES, "src/pkg/a.py": "from __future__ import annotations\n" + source}
    assert "src/pkg/a.py:4" not in import_time_uses(postponed, [target])[target]


HELPERS = dedent(
    """
    def _inner(x):
        return x


    def _helper(x):
        return _inner(x)


    def _shared(x):
        return x


    def _tested(x):
        return x


    def hashkey(*args):
        return _helper(args), _shared(args), _tested(args)


    def keep():
        return _shared(1)
    """
)


def test_unique_helpers_follow_helpers_of_helpers() -> None:
    """Helpers used only by the target go, transitively; shared or tested ones stay."""
    files = {
        "src/pkg/__init__.py": "",
        KEYS: HELPERS,
        "tests/test_keys.py": "from pkg import keys\n\ndef test():\n    keys._tested(1)\n",
    }
    found = unique_helpers(files, [Target(KEYS, "hashkey")], {KEYS, "src/pkg/__init__.py"})
    assert found == [Target(KEYS, "_inner"), Target(KEYS, "_helper")]


def test_unique_helpers_skip_listed_and_imported_names() -> None:
    """Names in __all__ or imported by another file are not private helpers."""
    files = {
        "src/pkg/__init__.py": "from .keys import _inner\n",
        KEYS: HELPERS + '\n__all__ = ["_helper"]\n',
    }
    assert unique_helpers(files, [Target(KEYS, "hashkey")], {KEYS}) == [Target(KEYS, "_tested")]


def test_interface_stub_of_a_function() -> None:
    """Decorators, the full signature and the docstring, then `...`."""
    source = dedent(
        '''
        import functools

        @functools.cache
        def f(a, /, b: int = 1, *args, c, d=2, **kw) -> str:
            """Do f.

            More about f.
            """
            return ""
        '''
    )
    assert interface_stub(source, "f", "src/pkg/f.py") == dedent(
        '''
        # src/pkg/f.py
        @functools.cache
        def f(a, /, b: int=1, *args, c, d=2, **kw) -> str:
            """Do f.

            More about f.
            """
            ...
        '''
    ).rstrip("\n")


def test_interface_stub_of_a_method_and_a_class() -> None:
    """A method sits in its class header; a class shows its public surface."""
    source = dedent(
        '''
        @dataclass
        class Cache(dict, Generic[T], metaclass=Meta):
            """A cache."""

            size: int = 0
            _hidden = 1

            def __init__(self, size: int) -> None:
                self.size = size

            async def get(self, key):
                """Get a key."""
                return key

            def _private(self):
                pass
        '''
    )
    assert interface_stub(source, "Cache.get", "c.py") == dedent(
        '''
        # c.py
        class Cache(dict, Generic[T], metaclass=Meta):
            async def get(self, key):
                """Get a key."""
                ...
        '''
    ).rstrip("\n")
    assert interface_stub(source, "Cache", "c.py") == dedent(
        '''
        # c.py
        @dataclass
        class Cache(dict, Generic[T], metaclass=Meta):
            """A cache."""
            size: int = 0

            def __init__(self, size: int) -> None:
                ...

            async def get(self, key):
                """Get a key."""
                ...
        '''
    ).rstrip("\n")


def test_rewrite_for_agent_code_splits_from_imports() -> None:
    """Removed names come from agent_code with their aliases; the rest stay put."""
    test = dedent(
        """
        import os  # keep
        from pkg.keys import hashkey as hk, methodkey, other


        def test():
            from pkg import hashkey
            assert hk is hashkey
        """
    )
    removed = {"pkg.keys": {"hashkey", "methodkey"}, "pkg": {"hashkey"}}
    assert rewrite_for_agent_code(test, removed) == dedent(
        """
        import os  # keep
        from agent_code import hashkey as hk, methodkey
        from pkg.keys import other


        def test():
            from agent_code import hashkey
            assert hk is hashkey
        """
    )


def test_rewrite_for_agent_code_redirects_module_attributes() -> None:
    """`m.a` for a removed `a` becomes `agent_code.a`, with `import agent_code` added."""
    test = dedent(
        """
        import pkg.keys
        import pkg.keys as m

        x = 1


        def test():
            assert m.hashkey(1) == pkg.keys.hashkey(1)
            assert m.other(m.hashkey.cache_info())
        """
    )
    assert rewrite_for_agent_code(test, {"pkg.keys": {"hashkey"}}) == dedent(
        """
        import pkg.keys
        import pkg.keys as m
        import agent_code

        x = 1


        def test():
            assert agent_code.hashkey(1) == agent_code.hashkey(1)
            assert m.other(agent_code.hashkey.cache_info())
        """
    )
    assert rewrite_for_agent_code(test, {"pkg.other": {"hashkey"}}) == test


def test_renamed_re_exports_lead_back_to_the_defined_name() -> None:
    """A re-export under another name is recorded, and level 2 imports the defined name."""
    files = project(
        {
            "src/pkg/__init__.py": "from .keys import hashkey as key, methodkey\n",
            "tests/test_keys.py": "import pkg\nfrom pkg import key as k\n\nk(pkg.key(1))\n",
        }
    )
    masked = mask(files, [Target(KEYS, "hashkey")])
    assert masked.renamed == {
        "src/pkg/__init__.py": {"key": "hashkey"},
        "tests/test_keys.py": {"k": "hashkey"},
    }
    assert masked.dropped_names["src/pkg/__init__.py"] == {"key"}
    rewritten = rewrite_for_agent_code(
        files["tests/test_keys.py"], {"pkg": {"key"}}, renamed={"pkg": {"key": "hashkey"}}
    )
    assert (
        rewritten
        == "import pkg\nfrom agent_code import hashkey as k\nimport agent_code\n\nk(agent_code.hashkey(1))\n"
    )


def test_mask_takes_overloads_with_their_implementation() -> None:
    """`@overload` stubs before the implementation go with it."""
    source = "from typing import overload\n\n\n@overload\ndef f(x: int) -> int: ...\n@overload\ndef f(x: str) -> str: ...\ndef f(x):\n    return x\n\n\ndef g():\n    pass\n"
    masked = mask({"m.py": source}, [Target("m.py", "f")])
    assert masked.files["m.py"] == "from typing import overload\n\n\ndef g():\n    pass\n"
    assert (masked.removed[0].start, masked.removed[0].end) == (4, 9)


def test_emptying_keeps_signature_decorators_and_docstring() -> None:
    from orchestrator.extract.stubbing import STUB_BODY, mask_with_stubs

    source = textwrap.dedent(
        '''\
        import functools


        @functools.lru_cache
        def square(x: int) -> int:
            """The square of x."""
            y = x * x
            return y


        def one(x): return x + 1


        square.__doc__ += " Cached."
        '''
    )
    files = {"pkg/__init__.py": "", "pkg/calc.py": source}
    masked = mask_with_stubs(
        files, [], [Target("pkg/calc.py", "square"), Target("pkg/calc.py", "one")]
    )
    text = masked.files["pkg/calc.py"]
    assert text == source.replace("    y = x * x\n    return y\n", f"    {STUB_BODY}\n").replace(
        "def one(x): return x + 1", f"def one(x): {STUB_BODY}"
    )
    bodies = {r.target.qualname: r.source for r in masked.removed}
    assert bodies == {"square": "    y = x * x\n    return y\n", "one": "return x + 1"}
    assert masked.dropped_names == {}  # still bound: importers and __all__ keep them


def test_emptying_a_docstring_only_function_is_refused() -> None:
    from orchestrator.extract.stubbing import stub_bodies

    with pytest.raises(MaskError, match="no body to take out"):
        stub_bodies({"m.py": 'def f():\n    """Only words."""\n'}, [Target("m.py", "f")])
