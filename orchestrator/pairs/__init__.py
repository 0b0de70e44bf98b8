"""``fbench build-pairs``: instruction/response pairs validated by the repository's own tests.

The stages run after build-cases' repo, image, scanner, runner and dynamic, one
module each: :mod:`~orchestrator.pairs.seeds`, :mod:`~orchestrator.pairs.instruct`,
:mod:`~orchestrator.pairs.validate` and :mod:`~orchestrator.pairs.dataset`.
With ``--source`` there is no repository: :mod:`~orchestrator.pairs.source` reads
the files, :mod:`~orchestrator.pairs.source_seeds` and
:mod:`~orchestrator.pairs.self_validate` take the place of seeds and validate.
"""

from __future__ import annotations

PAIRS_STAGE_NAMES = ("seeds", "instruct", "validate", "dataset")
