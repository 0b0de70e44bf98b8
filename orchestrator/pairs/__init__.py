"""``fbench build-pairs``: instruction/response pairs validated by the repository's own tests.

The stages run after build-cases' repo, image, scanner, runner and dynamic, one
module each: :mod:`~orchestrator.pairs.seeds`, :mod:`~orchestrator.pairs.instruct`,
:mod:`~orchestrator.pairs.validate` and :mod:`~orchestrator.pairs.dataset`.
"""

from __future__ import annotations

PAIRS_STAGE_NAMES = ("seeds", "instruct", "validate", "dataset")
