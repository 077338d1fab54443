"""The server's prompt embedder, loaded once and only when a policy uses embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from features import Embedder, WordLlamaEmbedder

__all__ = ["LazyEmbedder"]


class LazyEmbedder:
    """Loads WordLlama (from its own wheel, no download) on first use."""

    def __init__(self) -> None:
        self._loaded: Embedder | None = None

    def load(self) -> None:
        if self._loaded is None:
            self._loaded = WordLlamaEmbedder()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.load()
        assert self._loaded is not None
        return self._loaded.embed(texts)
