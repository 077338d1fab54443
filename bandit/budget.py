"""Budgets: a spend target per request instead of a cost weight in the reward.

A budget is a target, not only a cap. Under a budget the reward is decomposed: a regressor
learns each arm's reward *without* the cost term (the reward rule's cost weight is 0), a small
per-arm :class:`CostModel` learns what each arm costs, and a :class:`DualController` adjusts the
Lagrange multiplier of the spend constraint - the effective cost weight - from the spend the
router observes, so that spend converges to the budget. :class:`BudgetedPolicy` scores an arm
``reward_hat - cost_weight * cost_hat`` and explores with SquareCB over those scores. Its
greedy decisions (no exploration, as a replay's holdout is routed) take their cost weight
from a :class:`SpendCurve` computed on recent requests with the current estimates, mixing the
two weights around the budget.

Everything here learns from what the router observed: the cost and reward of the arm it chose.
The outcome of an arm that was not called never reaches any of these objects.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from bandit.pmf import with_floor
from bandit.sampling import sample_index, seed_for
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace, Pmf

__all__ = [
    "MAX_COST_SHARE",
    "MAX_USD_PER_REQUEST",
    "MIN_USD_PER_REQUEST",
    "REPLAY_CALIBRATION",
    "Budget",
    "BudgetStatus",
    "BudgetedPolicy",
    "ControllerSettings",
    "CostModel",
    "DualController",
    "RewardRegressor",
    "SpendCurve",
    "is_budget_snapshot",
    "snapshot_budget_usd",
    "split_snapshot",
    "squarecb_pmf",
]

#: Recent requests a replay's budgeted policy calibrates its greedy (holdout) decisions on.
REPLAY_CALIBRATION = 3000
#: Largest budget a policy may state, in USD per request.
MAX_USD_PER_REQUEST = 1000.0
#: Smallest: a nano-dollar. Below it the cost weight (``multiplier / budget``) could overflow.
MIN_USD_PER_REQUEST = 1e-9
#: Largest share of the reference model's cost (ten times what it would cost).
MAX_COST_SHARE = 10.0


@dataclass(frozen=True, slots=True)
class Budget:
    """What a policy may spend per request: a share of a reference model's cost, or USD.

    >>> Budget(cost_share=0.2, reference="gpt-4").usd_per_request_for(0.005)
    0.001
    >>> Budget(usd_per_request=0.002).usd_per_request_for(None)
    0.002
    >>> Budget(cost_share=0.2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A budget with cost_share 0.2 must name its reference model ...
    >>> Budget(cost_share=0.2, reference="gpt-4", usd_per_request=0.001)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A budget states either cost_share with a reference model or usd_per_request, ...
    """

    cost_share: float | None = None
    reference: str | None = None
    usd_per_request: float | None = None

    def __post_init__(self) -> None:
        if self.usd_per_request is not None:
            if self.cost_share is not None or self.reference is not None:
                raise ValueError(
                    "A budget states either cost_share with a reference model or "
                    f"usd_per_request, not both (got cost_share {self.cost_share!r}, reference "
                    f"{self.reference!r}, usd_per_request {self.usd_per_request!r})."
                )
            _check_usd("usd_per_request", self.usd_per_request)
            return
        if self.cost_share is None:
            raise ValueError(
                "A budget needs either cost_share with a reference model or usd_per_request."
            )
        _check_positive("cost_share", self.cost_share, MAX_COST_SHARE)
        if not self.reference:
            raise ValueError(
                f"A budget with cost_share {self.cost_share!r} must name its reference model "
                "(the model whose cost per request the share is of)."
            )

    def usd_per_request_for(self, reference_cost_usd: float | None) -> float:
        """The target in USD per request, given the reference model's mean cost per request."""
        if self.usd_per_request is not None:
            return self.usd_per_request
        assert self.cost_share is not None  # validated at construction
        if reference_cost_usd is None or not (
            math.isfinite(reference_cost_usd) and reference_cost_usd > 0.0
        ):
            raise ValueError(
                f"The budget is {self.cost_share!r} of {self.reference!r}'s cost per request, "
                f"but that cost is unknown or not positive ({reference_cost_usd!r})."
            )
        usd = self.cost_share * reference_cost_usd
        _check_usd(f"The budget ({self.cost_share!r} of {self.reference!r}'s cost)", usd)
        return usd


def _check_usd(name: str, value: float) -> None:
    if isinstance(value, bool) or not (
        math.isfinite(value) and MIN_USD_PER_REQUEST <= value <= MAX_USD_PER_REQUEST
    ):
        raise ValueError(
            f"{name} must be between {MIN_USD_PER_REQUEST:g} and {MAX_USD_PER_REQUEST:g} USD "
            f"per request, got {value!r}."
        )


def _check_positive(name: str, value: float, ceiling: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and 0.0 < value <= ceiling):
        raise ValueError(f"{name} must be a number above 0 and at most {ceiling:g}, got {value!r}.")


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """How the dual-ascent controller moves the cost weight, and how the greedy policy's
    spend curve is averaged.

    The controller works on the *normalised* multiplier ``nu = cost_weight * budget_usd``: the
    reward an arm must gain to be worth one budget's worth of extra spend. It is free of the
    currency's scale, so one step size suits a budget of a tenth of a cent and one of a dollar.
    After each observed cost ``c`` it takes the multiplicative step
    ``nu *= exp(step * (c / budget - 1))``, clipped to ``[min_multiplier, max_multiplier]``:
    spending above the budget raises the cost weight, below it lowers it.

    ``calibration`` is how many recent requests (context and candidates, no outcome) the
    policy keeps to calibrate its greedy decisions' cost weight on; they are part of its
    snapshot. A server routes from the pmf and never decides greedily, so it keeps none (0,
    the default): greedy decisions then use the controller's current cost weight. A replay,
    whose holdout is routed greedily, keeps 3,000 (``REPLAY_CALIBRATION``).

    >>> ControllerSettings(step=0.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: step must be a number above 0 and at most 1, got 0.0.
    """

    step: float = 0.01
    initial_multiplier: float = 0.02
    min_multiplier: float = 1e-4
    max_multiplier: float = 10.0
    calibration: int = 0

    def __post_init__(self) -> None:
        _check_positive("step", self.step, 1.0)
        _check_positive("min_multiplier", self.min_multiplier, 1.0)
        _check_positive("max_multiplier", self.max_multiplier, 1e6)
        if self.min_multiplier >= self.max_multiplier:
            raise ValueError(
                f"min_multiplier {self.min_multiplier!r} must be below max_multiplier "
                f"{self.max_multiplier!r}."
            )
        if not self.min_multiplier <= self.initial_multiplier <= self.max_multiplier:
            raise ValueError(
                f"initial_multiplier {self.initial_multiplier!r} must be between "
                f"{self.min_multiplier!r} and {self.max_multiplier!r}."
            )
        if isinstance(self.calibration, bool) or not 0 <= self.calibration <= 100_000:
            raise ValueError(f"calibration must be between 0 and 100000, got {self.calibration!r}.")


class DualController:
    """Dual ascent on the spend constraint ``E[cost] <= budget``, from observed costs only.

    >>> controller = DualController(0.001)
    >>> for _ in range(200):
    ...     controller.observe(0.002)  # spending twice the budget
    >>> controller.cost_weight > 20.0  # 0.02 / 0.001 at the start
    True
    """

    def __init__(
        self,
        budget_usd: float,
        settings: ControllerSettings | None = None,
        *,
        state: dict[str, Any] | None = None,
    ) -> None:
        _check_usd("budget_usd", budget_usd)
        self._budget = budget_usd
        self._settings = settings or ControllerSettings()
        self._multiplier = self._settings.initial_multiplier
        self._observed = 0
        self._spend = 0.0
        if state is not None:
            self._multiplier = float(state["multiplier"])
            self._observed = int(state["observed"])
            self._spend = float(state["spend_usd"])

    @property
    def budget_usd(self) -> float:
        return self._budget

    @property
    def cost_weight(self) -> float:
        """The current Lagrange multiplier in reward per USD: the effective cost weight."""
        return self._multiplier / self._budget

    @property
    def observed(self) -> int:
        return self._observed

    @property
    def mean_spend_usd(self) -> float | None:
        return self._spend / self._observed if self._observed else None

    def observe(self, cost_usd: float) -> None:
        """One observed cost of a call the router chose."""
        settings = self._settings
        step = settings.step * (cost_usd / self._budget - 1.0)
        # An extreme cost (a reporting error) moves the multiplier by at most a factor e.
        self._multiplier = min(
            max(self._multiplier * math.exp(min(step, 1.0)), settings.min_multiplier),
            settings.max_multiplier,
        )
        self._observed += 1
        self._spend += cost_usd

    def state(self) -> dict[str, Any]:
        return {
            "budget_usd": self._budget,
            "multiplier": self._multiplier,
            "observed": self._observed,
            "spend_usd": self._spend,
        }


#: Normalised multipliers of the spend curve: 12 a decade from 1e-4 to 10.
_CURVE = np.logspace(-4.0, 1.0, 61)


class SpendCurve:
    """The greedy policy's expected spend per request at each multiplier of a fixed grid.

    Built from predictions for a sample of requests: at every grid multiplier each request's
    greedy arm is taken and its *predicted* cost (the cost model's, learned from observed
    costs) averaged. The curve falls as the multiplier rises; where it crosses the budget,
    the greedy policy mixes the two neighbouring multipliers so that the mixture's expected
    spend is the budget.

    >>> curve = SpendCurve([((1.0, 0.5), (0.010, 0.001))], budget_usd=0.004)
    >>> weight_a, weight_b, share_a = curve.mixture()
    >>> weight_a <= 0.5 / 0.009 <= weight_b  # the weight where the two arms tie
    True
    >>> round(share_a * 0.010 + (1 - share_a) * 0.001, 6)  # the mixture spends the budget
    0.004
    """

    def __init__(
        self,
        predictions: Iterable[tuple[tuple[float, ...], tuple[float, ...]]],
        *,
        budget_usd: float,
    ) -> None:
        self._budget = budget_usd
        weights = _CURVE / budget_usd
        total = np.zeros(len(_CURVE))
        count = 0
        for rewards, costs in predictions:
            cost = np.array(costs)
            scores = np.array(rewards)[None, :] - weights[:, None] * cost[None, :]
            total += cost[np.argmax(scores, axis=1)]
            count += 1
        self._count = count
        self._spend = total / max(count, 1)

    @property
    def spend(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self._spend)

    def mixture(self) -> tuple[float, float, float]:
        """``(cost weight a, cost weight b, probability of a)`` whose mixture spends the budget.

        ``a`` is the largest grid weight whose greedy spend is above the budget, ``b`` the next
        one up; a budget above (below) the whole curve gives the lowest (highest) weight.
        """
        budget = self._budget
        weights = _CURVE / budget
        above = np.nonzero(self._spend > budget)[0]
        if self._count == 0 or len(above) == 0:
            return float(weights[0]), float(weights[0]), 1.0
        low = int(above[-1])
        if low == len(_CURVE) - 1:
            return float(weights[-1]), float(weights[-1]), 1.0
        spend_low, spend_high = float(self._spend[low]), float(self._spend[low + 1])
        share = (budget - spend_high) / (spend_low - spend_high)
        return float(weights[low]), float(weights[low + 1]), min(max(share, 0.0), 1.0)


def _context_state(context: Context) -> list[Any]:
    return [[ns.name, [[f, v] for f, v in ns.features]] for ns in context.namespaces]


def _context_from(state: list[Any]) -> Context:
    return Context(
        tuple(
            Namespace(str(name), tuple((str(f), float(v)) for f, v in features))
            for name, features in state
        )
    )


def _arm_state(arm: Arm) -> list[Any]:
    return [arm.id, _context_state(Context(arm.namespaces))]


def _arm_from(state: list[Any]) -> Arm:
    return Arm(str(state[0]), _context_from(state[1]).namespaces)


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


_MAGIC = b"bandit-router budget v1\n"


def is_budget_snapshot(data: bytes) -> bool:
    return data.startswith(_MAGIC)


def snapshot_budget_usd(data: bytes) -> float:
    """The budget a budgeted snapshot's controller aims at, in USD per request."""
    return float(split_snapshot(data)[0]["controller"]["budget_usd"])


def split_snapshot(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A budgeted snapshot's own state and its regressor's bytes."""
    if not is_budget_snapshot(data):
        raise ValueError("This snapshot is not a budgeted policy's snapshot.")
    offset = len(_MAGIC)
    (length,) = struct.unpack_from(">Q", data, offset)
    offset += 8
    state = json.loads(data[offset : offset + length].decode("utf-8"))
    return state, data[offset + length :]


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
