"""A case's texts: one interface stub per top object, and with ``llm_prompt_for_case``
the model's task statement and the docstrings the stubs lack.

An LLM that fails for good leaves the offline texts, a note and a run error
(the case it would have described is valid already, and all its test runs are
done); those texts are marked ``failed`` so the case is not stored for keeps.
A statement the checks reject twice leaves the offline statement and a note.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from orchestrator.extract.agent_views import interface_stub
from orchestrator.extract.masking import Target
from orchestrator.llm import cases as llm_cases
from orchestrator.llm import statements
from orchestrator.llm.client import LLM, LLMError
from orchestrator.pipeline.engine import RunContext, SpecState
from orchestrator.stages.data_checks import Verdict


@dataclass
class CaseTexts:
    stubs: list[str]
    task: str = ""  # the LLM's task statement, with llm_prompt_for_case
    docstrings: dict[str, str] = field(default_factory=dict)  # path::qualname -> by the LLM
    failed: str | None = None  # the endpoint failed: these texts are offline, and not for keeps


def case_texts(
    ctx: RunContext,
    state: SpecState,
    files: dict[str, str],
    verdict: Verdict,
    file: str,
    cached: bool,
    members: Mapping[Target, Collection[str]],
) -> CaseTexts:
    """The texts of the case ``verdict`` proved valid; offline ones when the LLM fails.
    ``members``: a class's private members that code outside it uses, stubbed too."""
    features = verdict.classification.features
    offline = CaseTexts(
        [
            interface_stub(files[t.path], t.qualname, t.path, members=members.get(t, ()))
            for t in features
        ]
    )
    if ctx.llm is None or not state.spec.settings.llm_prompt_for_case:
        return offline
    try:
        library = state.spec.settings.library_name or state.spec.settings.repository
        texts = _llm_texts(ctx.llm, library, files, verdict, (file, cached), members)
    except LLMError as exc:
        ctx.error(ctx.llm.down or f"data: {state.name} {file}: {exc}")
        ctx.warn(
            "data: cases whose texts the LLM endpoint failed to write keep the offline texts"
            " and are not cached; a rerun asks the model again"
        )
        verdict.notes.append(f"offline task texts: {exc}")
        offline.failed = str(exc)
        return offline
    return texts


def _llm_texts(
    llm: LLM,
    library: str,
    files: dict[str, str],
    verdict: Verdict,
    asked: tuple[str, bool],
    members: Mapping[Target, Collection[str]],
) -> CaseTexts:
    file, cached = asked  # the test file, and whether cached answers may be used
    features = verdict.classification.features
    texts = CaseTexts([])
    for target in features:
        source, written = llm_cases.with_docstrings(
            llm, library, files[target.path], target, cached
        )
        texts.docstrings |= {f"{target.path}::{n}": text for n, text in written.items()}
        private = members.get(target, ())
        texts.stubs.append(interface_stub(source, target.qualname, target.path, members=private))
    names = statements.interface_names(features)
    known = statements.known_names(files, texts.stubs)

    def check(text: str) -> list[str]:
        return statements.problems(text, names, known)

    statement = llm_cases.task_statement(
        llm, library, texts.stubs, file, files[file], check, cached
    )
    texts.task = statement.text
    if statement.rejected:
        verdict.notes.append(f"offline task statement: {statement.rejected}")
    return texts
