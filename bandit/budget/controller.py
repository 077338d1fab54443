"""The spend constraint's multiplier (the effective cost weight): adjusted from observed spend, and
mixed around the budget for greedy decisions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bandit.budget.settings import _check_positive, _check_usd

__all__ = ["ControllerSettings", "DualController", "SpendCurve"]


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
