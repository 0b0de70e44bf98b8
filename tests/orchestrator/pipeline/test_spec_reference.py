"""specs/REFERENCE.md is what the schema says, key for key."""

from __future__ import annotations

from pathlib import Path

from orchestrator.pipeline.spec_reference import MEANINGS, key_rows, reference_markdown
from orchestrator.pipeline.specs import FIELDS

REFERENCE = Path(__file__).resolve().parents[3] / "specs" / "REFERENCE.md"


def test_the_reference_in_the_docs_is_the_generated_one() -> None:
    """Regenerate with: python -m orchestrator.pipeline.spec_reference > specs/REFERENCE.md"""
    assert REFERENCE.read_text() == reference_markdown()


def test_every_key_has_a_meaning_and_every_meaning_a_key() -> None:
    keys = [key for key, *_ in key_rows()]
    assert set(keys) >= FIELDS
    assert set(MEANINGS) == set(keys)


def test_types_and_defaults_come_from_the_struct() -> None:
    rows = {key: (kind, default) for key, kind, default, _ in key_rows()}
    assert rows["repository"] == ("str", "required")
    assert rows["timeout_run"] == ("int", "`600`")
    assert rows["test_cmd"] == ("list[str]", "`['pytest', '-q', '-p', 'no:cacheprovider']`")
    assert rows["docker_specs.run_args.shm_size"] == ("str | None", "`None`")
