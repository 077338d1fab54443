"""A dense prompt-embedding namespace from a local static embedding model.

The default model is WordLlama, whose weights ship inside its wheel: it is loaded from the
package directory with downloads disabled, so nothing is fetched at run time. The model sits
behind the one-method ``Embedder`` interface so tests can use a fake.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from bandit.types import Namespace

__all__ = ["NAMESPACE", "Embedder", "WordLlamaEmbedder", "embedding_namespace"]

NAMESPACE = "embedding"
#: Decimals kept per dimension: enough for routing, and it keeps logged contexts compact.
_DECIMALS = 4


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row per text, shape ``(len(texts), dimensions)``."""
        ...


class WordLlamaEmbedder:
    """WordLlama's 256-dimension static embeddings, loaded from its own package directory."""

    def __init__(self, dimensions: int = 256) -> None:
        import os

        import wordllama  # heavy: imported only when embeddings are switched on

        self._model: Any = wordllama.WordLlama.load(
            cache_dir=os.path.dirname(wordllama.__file__), disable_download=True, dim=dimensions
        )

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = self._model.embed(list(texts), norm=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


def embedding_namespace(vector: npt.NDArray[np.float32]) -> Namespace | None:
    """The unit-normalised vector as features ``d0 .. d{n-1}``; None for an all-zero vector.

    >>> embedding_namespace(np.array([3.0, 4.0], dtype=np.float32)).features
    (('d0', 0.6), ('d1', 0.8))
    """
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        return None
    unit = np.round(vector.astype(np.float64) / norm, _DECIMALS)
    return Namespace(NAMESPACE, tuple((f"d{i}", float(v)) for i, v in enumerate(unit) if v != 0.0))
