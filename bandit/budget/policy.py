"""The budgeted policy: reward minus the cost weight times the learned cost, explored with
SquareCB."""

from __future__ import annotations

import json
import math
import struct
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from bandit.budget.controller import ControllerSettings, DualController, SpendCurve
from bandit.budget.cost_model import CostModel
from bandit.budget.snapshot import _MAGIC, _arm_from, _arm_state, _context_from, _context_state
from bandit.pmf import with_floor
from bandit.sampling import sample_index, seed_for
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Pmf

__all__ = ["BudgetStatus", "BudgetedPolicy", "RewardRegressor", "squarecb_pmf"]


def squarecb_pmf(scores: tuple[float, ...], gamma: float, min_probability: float) -> Pmf:
    """SquareCB's inverse-gap weighting over ``scores`` (higher is better), as VW's squarecb.

    Every arm but the best gets ``1 / (k + gamma * (best - score))``; the best gets the rest.
    Ties go to the first best arm.

    >>> squarecb_pmf((0.5, 0.5), 0.0, 0.0)
    (0.5, 0.5)
    >>> [round(p, 3) for p in squarecb_pmf((1.0, 0.0, 0.5), 10.0, 0.0)]
    [0.798, 0.077, 0.125]
    """
    k = len(scores)
    best = max(range(k), key=scores.__getitem__)
    top = scores[best]
    pmf = [0.0 if a == best else 1.0 / (k + gamma * (top - s)) for a, s in enumerate(scores)]
    pmf[best] = max(1.0 - math.fsum(pmf), 0.0)
    return with_floor(tuple(pmf), min_probability)


class RewardRegressor(Protocol):
    """Predicts each arm's reward for a context and learns from the chosen arm's reward."""

    def predict_rewards(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]: ...

    def learn(self, interaction: Interaction) -> None: ...

    def to_bytes(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """What a budgeted policy's controller is doing: for a policy's status."""

    budget_usd: float
    cost_weight: float
    observed: int
    mean_spend_usd: float | None


class BudgetedPolicy:
    """SquareCB over ``reward_hat - cost_weight * cost_hat`` with a controlled cost weight.

    ``regressor`` learns the reward without its cost term; the policy's own cost model and
    controller learn from ``Interaction.cost_usd`` (an interaction without a reported cost
    teaches them nothing). ``learned`` counts interactions for SquareCB's
    ``gamma = gamma_scale * learned ** gamma_exponent``, as VW counts them.
    """

    def __init__(
        self,
        regressor: RewardRegressor,
        budget_usd: float,
        exploration: ExplorationSettings,
        controller: ControllerSettings | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> None:
        self._regressor = regressor
        self._exploration = exploration
        self._controller = DualController(
            budget_usd, controller, state=None if state is None else state["controller"]
        )
        self._costs = CostModel(state=None if state is None else state["costs"])
        # The recent requests the greedy policy calibrates on, and the calibration of the
        # current learned state (recomputed after any learning).
        self._recent: deque[tuple[Context, tuple[Arm, ...]]] = deque(
            maxlen=(controller or ControllerSettings()).calibration
        )
        if state is not None:
            arm_sets = [tuple(_arm_from(a) for a in arms) for arms in state["arm_sets"]]
            self._recent.extend(
                (_context_from(context), arm_sets[index]) for context, index in state["recent"]
            )
        self._mixture: tuple[int, tuple[float, float, float]] | None = None
        self._learned = 0 if state is None else int(state["learned"])
        # The predicted rewards of the last prediction, for the learn that usually follows it
        # (same context and arms objects, no learning in between): they are what a fresh
        # prediction would give, without asking the regressor twice.
        self._last: tuple[Context, tuple[Arm, ...], tuple[float, ...]] | None = None

    @property
    def regressor(self) -> RewardRegressor:
        return self._regressor

    def status(self) -> BudgetStatus:
        return BudgetStatus(
            budget_usd=self._controller.budget_usd,
            cost_weight=self._controller.cost_weight,
            observed=self._controller.observed,
            mean_spend_usd=self._controller.mean_spend_usd,
        )

    def scores(
        self, context: Context, arms: tuple[Arm, ...], cost_weight: float | None = None
    ) -> tuple[float, ...]:
        """``reward_hat - cost_weight * cost_hat`` per arm (the current cost weight by default)."""
        weight = self._controller.cost_weight if cost_weight is None else cost_weight
        rewards = self._rewards(context, arms)
        costs = self._costs.predict(context, (arm.id for arm in arms))
        return tuple(r - weight * c for r, c in zip(rewards, costs, strict=True))

    def _rewards(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]:
        last = self._last
        if last is not None and last[0] is context and last[1] is arms:
            return last[2]
        rewards = self._regressor.predict_rewards(context, arms)
        self._last = (context, arms, rewards)
        return rewards

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        gamma = self._exploration.gamma_scale * self._learned**self._exploration.gamma_exponent
        return squarecb_pmf(self.scores(context, arms), gamma, self._exploration.min_probability)

    def greedy(self, decision_id: str, context: Context, arms: tuple[Arm, ...]) -> int:
        """The best arm without exploration, at a cost weight calibrated to the budget.

        The calibration scores the recent requests with the current estimates
        (:class:`SpendCurve`) and mixes the two cost weights around the budget; the draw
        between them is seeded by ``decision_id``, so a retry gives the same arm.
        """
        low, high, share = self.greedy_mixture()
        draw = sample_index((share, 1.0 - share), seed_for(f"budget:{decision_id}"))
        scores = self.scores(context, arms, (low, high)[draw])
        return max(range(len(scores)), key=scores.__getitem__)

    def greedy_mixture(self) -> tuple[float, float, float]:
        """``(cost weight a, cost weight b, probability of a)`` for greedy decisions.

        Without recent requests to calibrate on: the controller's current weight.
        """
        if not self._recent:
            weight = self._controller.cost_weight
            return weight, weight, 1.0
        if self._mixture is None or self._mixture[0] != self._learned:
            predictions = [
                (
                    self._regressor.predict_rewards(context, arms),
                    self._costs.predict(context, (arm.id for arm in arms)),
                )
                for context, arms in self._recent
            ]
            curve = SpendCurve(predictions, budget_usd=self._controller.budget_usd)
            self._last = None
            self._mixture = (self._learned, curve.mixture())
        return self._mixture[1]

    def learn(self, interaction: Interaction) -> None:
        """Learn the reward; with a reported cost, the cost model and the controller too."""
        if interaction.cost_usd is not None:
            self._controller.observe(interaction.cost_usd)
            chosen = interaction.arms[interaction.chosen].id
            self._costs.learn(interaction.context, chosen, interaction.cost_usd)
        self._recent.append((interaction.context, interaction.arms))
        self._last = None
        self._regressor.learn(interaction)
        self._learned += 1

    def to_bytes(self) -> bytes:
        own = json.dumps(
            {
                "learned": self._learned,
                "controller": self._controller.state(),
                "costs": self._costs.state(),
                **self._recent_state(),
            },
            sort_keys=True,
        ).encode("utf-8")
        return _MAGIC + struct.pack(">Q", len(own)) + own + self._regressor.to_bytes()

    def _recent_state(self) -> dict[str, Any]:
        arm_sets: dict[tuple[Arm, ...], int] = {}
        recent = []
        for context, arms in self._recent:
            index = arm_sets.setdefault(arms, len(arm_sets))
            recent.append([_context_state(context), index])
        return {"recent": recent, "arm_sets": [[_arm_state(a) for a in arms] for arms in arm_sets]}

    def close(self) -> None:
        close = getattr(self._regressor, "close", None)
        if callable(close):
            close()
