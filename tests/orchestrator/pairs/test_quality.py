"""The quality checks of a response, each a figure and a verdict against ``[pairs]``."""

from __future__ import annotations

from orchestrator.pairs.config import PairsConfig
from orchestrator.pairs.quality import quality, ruff_codes

SEED = {"signature": "def area(width, height=1):"}
GOOD = (
    "def area(width: float, height: float = 1) -> float:\n"
    '    """Return the area of a rectangle."""\n'
    "    return width * height\n"
)
BAD = "def area(width,height=1):\n  x=width*height\n  return x\n"


def test_a_clean_response_passes_every_check() -> None:
    """Hints, a docstring, PEP 8 layout and the asked-for signature pass every check."""
    found = quality(GOOD, SEED, PairsConfig(min_type_hint_coverage=1.0), "", None)
    assert {name: check["passed"] for name, check in found.items()} == dict.fromkeys(found, True)
    assert found["type_hints"]["value"] == 1.0


def test_a_badly_styled_response_has_figures_to_show_it() -> None:
    """PEP 8 issues, a missing docstring, no hints: each counted and failed."""
    found = quality(
        BAD, SEED, PairsConfig(max_docstring_issues=0, min_type_hint_coverage=0.5), "", None
    )
    assert found["pep8"]["value"] >= 3
    assert not found["pep8"]["passed"]
    assert found["docstring"]["value"] == 1
    assert not found["docstring"]["passed"]
    assert found["type_hints"]["value"] == 0.0
    assert not found["type_hints"]["passed"]
    assert found["alignment"]["passed"]  # the name and parameters are the ones asked for


def test_pycodestyle_rules_need_preview() -> None:
    """E225 and E231 are reported: ruff runs them only under --preview."""
    assert {"E225", "E231", "E111"} <= set(ruff_codes(BAD))


def test_alignment_fails_on_other_parameters() -> None:
    """A response with other parameters cannot take the seed's place."""
    other = GOOD.replace("height: float = 1", "*, height: float = 1")
    found = quality(other, SEED, PairsConfig(), "", None)
    assert not found["alignment"]["passed"]
    assert "asked for 'def area(width, height=1):'" in found["alignment"]["reason"]


def test_complexity_is_bounded() -> None:
    """Six branches against a bound of five fail the complexity check."""
    branchy = (
        "def area(width, height=1):\n"
        + "".join(f"    if width == {i}:\n        return {i}\n" for i in range(5))
        + "    return 0\n"
    )
    found = quality(branchy, SEED, PairsConfig(max_complexity=5), "", None)
    assert found["complexity"]["value"] == 6
    assert not found["complexity"]["passed"]
