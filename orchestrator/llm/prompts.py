"""Prompt templates: files with a version, not strings in code.

``orchestrator/templates/prompts/<name>.md`` starts with ``version: N`` and
holds ``--- system`` and ``--- user`` sections with ``$placeholders``. The
version is part of every cache key, so editing a prompt means raising it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources

from orchestrator.errors import FbenchError


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    sections: tuple[tuple[str, str], ...]  # (role, template)

    def render(self, variables: dict[str, str]) -> list[dict[str, str]]:
        return [
            {"role": role, "content": string.Template(text).substitute(variables)}
            for role, text in self.sections
        ]


def load_prompt(name: str) -> Prompt:
    path = resources.files("orchestrator") / "templates" / "prompts" / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n")
    if not head.startswith("version:"):
        raise FbenchError(f"prompt {name}: the first line must be 'version: N'")
    sections: list[tuple[str, str]] = []
    for chunk in body.split("--- ")[1:]:
        role, _, template = chunk.partition("\n")
        sections.append((role.strip(), template.strip() + "\n"))
    return Prompt(name, int(head.split(":", 1)[1]), tuple(sections))
