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

from bandit.budget.controller import ControllerSettings, DualController, SpendCurve
from bandit.budget.cost_model import CostModel
from bandit.budget.policy import BudgetedPolicy, BudgetStatus, RewardRegressor, squarecb_pmf
from bandit.budget.settings import (
    REPLAY_CALIBRATION,
    Budget,
)
from bandit.budget.snapshot import is_budget_snapshot, snapshot_budget_usd, split_snapshot

__all__ = [
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
