"""What the agent reads of a class, and the level 2 package copied from the originals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

from orchestrator.extract.agent_views import copied_agent_code, interface_stub
from orchestrator.extract.masking import Target, mask


def test_a_class_stub_shows_slots_constants_and_dunders_not_private_parts() -> None:
    source = dedent(
        """
        class Point:
            __slots__ = ("x", "y")
            ORIGIN = 0
            _cache = {}

            def __eq__(self, other):
                return self.x == other.x

            def _norm(self):
                return abs(self.x)
        """
    )
    assert interface_stub(source, "Point", "p.py", "Exercised by the tests: test_eq.") == dedent(
        '''
        # p.py
        class Point:
            """Exercised by the tests: test_eq."""
            __slots__ = ('x', 'y')
            ORIGIN = 0

            def __eq__(self, other):
                ...
        '''
    ).strip("\n")


def test_agent_code_copies_the_interfaces_and_imports_what_the_library_keeps(
    tmp_path: Path,
) -> None:
    """SCALE stays in the masked module and is imported; _units is copied, not imported."""
    files = {
        "pkg/__init__.py": "",
        "pkg/sizes.py": dedent(
            """
            import math

            SCALE = 1000


            def _units(value):
                return math.floor(value / SCALE)


            def naturalsize(value):
                return f"{_units(value)} kB"
            """
        ),
    }
    objects = [Target("pkg/sizes.py", "naturalsize"), Target("pkg/sizes.py", "_units")]
    masked = mask(files, objects).files
    package = copied_agent_code(files, objects, masked)
    assert package.startswith("from pkg.sizes import SCALE\nfrom pkg.sizes import math\n")
    assert "from pkg.sizes import _units" not in package
    for path, text in {**files, **masked, "agent_code/__init__.py": package}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    check = "import agent_code, pkg.sizes; print(agent_code.naturalsize(3000), hasattr(pkg.sizes, '_units'))"
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.stdout == "3 kB False\n", done.stderr
