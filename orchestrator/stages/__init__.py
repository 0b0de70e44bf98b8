"""The pipeline's stages, one module each, in the order they run."""

from __future__ import annotations

STAGE_NAMES = ("repo", "image", "scanner", "runner", "dynamic", "top", "p2p", "data")
CACHED_STAGE_NAMES = ("scanner", "runner", "dynamic", "top", "p2p", "data")
