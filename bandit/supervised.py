"""A full-information supervised router: the reference an offline-trained router reaches.

Per model, ridge regressions predict quality and cost from the context (every model's label is
known for every training prompt, unlike in the bandit setting); the router picks the model with
the best predicted ``quality - cost_weight * cost``. This stands for routers such as RouteLLM's
or RouterBench's kNN/MLP routers, trained offline on labelled data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bandit.types import Context

__all__ = ["FeatureHasher", "RidgeRouter"]

Matrix = npt.NDArray[np.float64]


@dataclass
class FeatureHasher:
    """Maps a context to a dense vector of ``dimensions`` by hashing namespaced feature names."""

    dimensions: int = 1024
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def transform(self, contexts: Sequence[Context]) -> Matrix:
        """Shape ``(len(contexts), dimensions + 1)``; the last column is a constant 1."""
        matrix = np.zeros((len(contexts), self.dimensions + 1))
        matrix[:, -1] = 1.0
        for row, context in enumerate(contexts):
            for namespace in context.namespaces:
                for name, value in namespace.features:
                    matrix[row, self._column(f"{namespace.name}^{name}")] += value
        return matrix

    def _column(self, key: str) -> int:
        column = self._index.get(key)
        if column is None:
            digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
            column = int.from_bytes(digest, "big") % self.dimensions
            self._index[key] = column
        return column


@dataclass
class RidgeRouter:
    """Ridge regressions of quality and cost per model, fitted in closed form."""

    l2: float = 1.0
    _quality: dict[str, Matrix] = field(default_factory=dict, repr=False)
    _cost: dict[str, Matrix] = field(default_factory=dict, repr=False)

    def fit(
        self,
        features: Matrix,
        quality: Mapping[str, Sequence[float]],
        cost: Mapping[str, Sequence[float]],
    ) -> RidgeRouter:
        """``features`` has shape ``(n, d)``; each label sequence has length ``n``."""
        gram = features.T @ features + self.l2 * np.eye(features.shape[1])
        factor = np.linalg.cholesky(gram)

        def solve(labels: Sequence[float]) -> Matrix:
            rhs = features.T @ np.asarray(labels, dtype=np.float64)
            return np.linalg.solve(factor.T, np.linalg.solve(factor, rhs))

        self._quality = {model: solve(labels) for model, labels in quality.items()}
        self._cost = {model: solve(labels) for model, labels in cost.items()}
        return self

    def choose(self, features: Matrix, models: Sequence[str], cost_weight: float) -> list[str]:
        """The model with the best predicted ``quality - cost_weight * cost``, per row."""
        scores = np.stack(
            [
                features @ self._quality[m] - cost_weight * (features @ self._cost[m])
                for m in models
            ],
            axis=1,
        )
        return [models[int(i)] for i in np.argmax(scores, axis=1)]
