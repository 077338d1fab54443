"""What each arm costs, learned per arm from the spend the router observed."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from bandit.types import Context

__all__ = ["CostModel"]

#: Buckets the caller features are hashed into for the cost model.
_CALLER_BUCKETS = 8


def _cost_features(context: Context) -> np.ndarray:
    """``[1, prompt tokens / 1000, hashed caller features]``: cost is tokens times a price plus
    an output that depends on the task, which callers name (``task=...``)."""
    row = np.zeros(2 + _CALLER_BUCKETS)
    row[0] = 1.0
    for namespace in context.namespaces:
        if namespace.name == "size":
            for name, value in namespace.features:
                if name == "log_tokens":
                    row[1] = math.expm1(value) / 1000.0
        elif namespace.name == "caller":
            for name, value in namespace.features:
                digest = hashlib.sha256(name.encode("utf-8")).digest()
                row[2 + digest[0] % _CALLER_BUCKETS] += value
    return row


class CostModel:
    """Per-arm ridge regression of the observed cost on a few prompt features.

    Only the chosen arm's observed cost is learned. An arm never observed is predicted at the
    mean observed cost over all arms (zero before any observation).

    >>> model = CostModel()
    >>> for _ in range(20):
    ...     model.learn(Context(), "a", 0.003)
    >>> round(model.predict(Context(), ("a",))[0], 6), round(model.predict(Context(), ("b",))[0], 6)
    (0.003, 0.003)
    """

    def __init__(self, *, ridge: float = 1e-3, state: dict[str, Any] | None = None) -> None:
        self._ridge = ridge
        dim = 2 + _CALLER_BUCKETS
        self._dim = dim
        self._gram: dict[str, np.ndarray] = {}
        self._moment: dict[str, np.ndarray] = {}
        self._count: dict[str, int] = {}
        self._total: dict[str, float] = {}
        self._weights: dict[str, np.ndarray] = {}
        if state is not None:
            for arm, entry in state["arms"].items():
                self._gram[arm] = np.array(entry["gram"], dtype=float).reshape(dim, dim)
                self._moment[arm] = np.array(entry["moment"], dtype=float)
                self._count[arm] = int(entry["count"])
                self._total[arm] = float(entry["total"])

    def learn(self, context: Context, arm: str, cost_usd: float) -> None:
        x = _cost_features(context)
        if arm not in self._gram:
            self._gram[arm] = self._ridge * np.eye(self._dim)
            self._moment[arm] = np.zeros(self._dim)
            self._count[arm] = 0
            self._total[arm] = 0.0
        self._gram[arm] += np.outer(x, x)
        self._moment[arm] += cost_usd * x
        self._count[arm] += 1
        self._total[arm] += cost_usd
        self._weights.pop(arm, None)

    def predict(self, context: Context, arms: Iterable[str]) -> tuple[float, ...]:
        x = _cost_features(context)
        pooled = self._pooled_mean()
        return tuple(self._predict_one(x, arm, pooled) for arm in arms)

    def _predict_one(self, x: np.ndarray, arm: str, pooled: float) -> float:
        if arm not in self._gram:
            return pooled
        weights = self._weights.get(arm)
        if weights is None:
            weights = np.linalg.solve(self._gram[arm], self._moment[arm])
            self._weights[arm] = weights
        # A cost is never negative; a linear fit far from its data can say otherwise.
        return max(float(x @ weights), 0.0)

    def _pooled_mean(self) -> float:
        count = sum(self._count.values())
        return math.fsum(self._total.values()) / count if count else 0.0

    def state(self) -> dict[str, Any]:
        return {
            "arms": {
                arm: {
                    "gram": [float(v) for v in self._gram[arm].ravel()],
                    "moment": [float(v) for v in self._moment[arm]],
                    "count": self._count[arm],
                    "total": self._total[arm],
                }
                for arm in sorted(self._gram)
            }
        }
