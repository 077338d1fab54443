"""Context-free epsilon-greedy over per-model mean rewards (numpy baseline)."""

from __future__ import annotations

import json

import numpy as np

from bandit.pmf import with_floor
from bandit.types import Arm, Context, Interaction, Pmf

__all__ = ["ContextFreeEpsilonGreedy"]


class ContextFreeEpsilonGreedy:
    """Puts ``1 - epsilon`` on the model with the best mean reward, ignoring the context.

    Models never seen before are tried first (an optimistic start), so a new model is not
    starved. Ties go to the earlier candidate, which keeps the pmf deterministic.
    """

    def __init__(self, *, epsilon: float, min_probability: float) -> None:
        self._epsilon = epsilon
        self._min_probability = min_probability
        self._counts: dict[str, int] = {}
        self._sums: dict[str, float] = {}

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        means = np.array([self._mean(arm.id) for arm in arms], dtype=np.float64)
        k = len(arms)
        pmf = np.full(k, self._epsilon / k)
        pmf[int(np.argmax(means))] += 1.0 - self._epsilon
        return with_floor(tuple(float(p) for p in pmf), self._min_probability)

    def learn(self, interaction: Interaction) -> None:
        model = interaction.arms[interaction.chosen].id
        self._counts[model] = self._counts.get(model, 0) + 1
        self._sums[model] = self._sums.get(model, 0.0) + interaction.reward

    def to_bytes(self) -> bytes:
        state = {"counts": self._counts, "sums": self._sums}
        return json.dumps(state, sort_keys=True).encode()

    def load_bytes(self, data: bytes) -> None:
        state = json.loads(data)
        self._counts = {str(k): int(v) for k, v in state["counts"].items()}
        self._sums = {str(k): float(v) for k, v in state["sums"].items()}

    def _mean(self, model: str) -> float:
        count = self._counts.get(model, 0)
        return float("inf") if count == 0 else self._sums[model] / count
