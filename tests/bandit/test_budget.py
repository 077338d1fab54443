"""Budgets: the spec, the cost model, the controller and the budgeted policy on synthetic data.

The world of the policy tests: two callers and two models. ``cheap`` costs 0.001 USD and is
right on "easy" prompts only; ``dear`` costs 0.010 USD and is always right. The unconstrained
best is ``dear`` everywhere (0.010 a request); the best policy for a budget of 0.0055 a request
sends the hard prompts (half of them) to ``dear`` and the easy ones to ``cheap``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bandit.budget import (
    Budget,
    BudgetedPolicy,
    ControllerSettings,
    CostModel,
    DualController,
    SpendCurve,
    split_snapshot,
    squarecb_pmf,
)
from bandit.learner import Learner
from bandit.policy import Policy
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace

CHEAP, DEAR = 0.001, 0.010


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs either cost_share"),
        ({"cost_share": 0.2}, "must name its reference model"),
        ({"cost_share": 0.0, "reference": "m"}, "cost_share must be a number above 0"),
        ({"cost_share": math.nan, "reference": "m"}, "cost_share must be a number above 0"),
        ({"cost_share": 11.0, "reference": "m"}, "at most 10"),
        ({"usd_per_request": -1.0}, "usd_per_request must be between 1e-09"),
        ({"usd_per_request": 1e-300}, "usd_per_request must be between 1e-09"),
        ({"usd_per_request": 1.0, "reference": "m"}, "not both"),
    ],
)
def test_a_bad_budget_is_refused_with_a_sentence(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Budget(**kwargs)  # type: ignore[arg-type]


def test_a_share_needs_the_reference_cost() -> None:
    budget = Budget(cost_share=0.25, reference="big")
    assert budget.usd_per_request_for(0.004) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="'big'"):
        budget.usd_per_request_for(None)
    with pytest.raises(ValueError, match="not positive"):
        budget.usd_per_request_for(0.0)


def test_controller_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="calibration"):
        ControllerSettings(calibration=-1)
    with pytest.raises(ValueError, match="below max_multiplier"):
        ControllerSettings(min_multiplier=1.0, max_multiplier=0.5)
    with pytest.raises(ValueError, match="initial_multiplier"):
        ControllerSettings(initial_multiplier=20.0)


def test_squarecb_pmf_matches_inverse_gap_weighting() -> None:
    pmf = squarecb_pmf((0.2, 0.9, 0.5), gamma=20.0, min_probability=0.0)
    assert pmf[0] == pytest.approx(1 / (3 + 20 * 0.7))
    assert pmf[2] == pytest.approx(1 / (3 + 20 * 0.4))
    assert sum(pmf) == pytest.approx(1.0)
    assert max(range(3), key=pmf.__getitem__) == 1
    assert min(squarecb_pmf((0.0, 1.0), gamma=1e9, min_probability=0.05)) == pytest.approx(0.05)


def test_the_cost_model_learns_cost_per_token_per_arm() -> None:
    model = CostModel()
    rng = np.random.default_rng(0)
    for _ in range(200):
        tokens = float(rng.integers(10, 2000))
        model.learn(sized(tokens), "a", 1e-6 * tokens + 1e-4)
    assert model.predict(sized(1000.0), ["a"])[0] == pytest.approx(1.1e-3, rel=1e-3)
    assert model.predict(sized(100.0), ["a"])[0] == pytest.approx(2e-4, rel=1e-2)
    restored = CostModel(state=model.state())
    assert restored.predict(sized(777.0), ["a", "b"]) == model.predict(sized(777.0), ["a", "b"])


def sized(tokens: float) -> Context:
    return Context((Namespace("size", (("log_tokens", math.log1p(tokens)),)),))


@pytest.mark.parametrize("mean_cost", [0.0005, 0.004])
def test_the_controller_moves_the_cost_weight_until_spend_meets_the_budget(
    mean_cost: float,
) -> None:
    # A synthetic world where spend falls as the cost weight rises: at weight w, a call costs
    # on average 0.004 / (1 + w / 50); the budget 0.002 is met at w = 50.
    rng = np.random.default_rng(1)
    controller = DualController(0.002, ControllerSettings(initial_multiplier=mean_cost * 10))
    spent = []
    for _ in range(20_000):
        expected = 0.004 / (1.0 + controller.cost_weight / 50.0)
        cost = float(rng.exponential(expected))
        controller.observe(cost)
        spent.append(expected)
    assert controller.cost_weight == pytest.approx(50.0, rel=0.2)
    assert np.mean(spent[-5000:]) == pytest.approx(0.002, rel=0.05)
    assert controller.mean_spend_usd is not None


def test_the_controller_state_round_trips() -> None:
    controller = DualController(0.001)
    for cost in (0.0, 0.003, 0.0005, 0.01):
        controller.observe(cost)
    copy = DualController(0.001, state=controller.state())
    assert copy.state() == controller.state()
    assert copy.cost_weight == controller.cost_weight


def test_the_spend_curve_mixes_the_two_operating_points_around_the_budget() -> None:
    # Two kinds of request: on "hard" ones dear gains 1.0 for 0.009 USD more (switching at a
    # cost weight of 111), on "easy" ones nothing. Greedy spend is 0.0055 below 111, 0.001 above.
    predictions = [((0.0, 1.0 if i % 2 else 0.0), (CHEAP, DEAR)) for i in range(400)]
    low, high, share = SpendCurve(predictions, budget_usd=0.004).mixture()
    assert low < 1 / (DEAR - CHEAP) <= high
    assert share * 0.0055 + (1 - share) * 0.001 == pytest.approx(0.004)
    # Beyond the curve: a budget nothing reaches takes the highest weight, a generous one the
    # lowest, and so does a curve with nothing to go on.
    tight = SpendCurve(predictions, budget_usd=0.0001).mixture()
    assert tight[0] == tight[1] == pytest.approx(10.0 / 0.0001)
    generous = SpendCurve(predictions, budget_usd=1.0).mixture()
    assert generous == pytest.approx((1e-4, 1e-4, 1.0))
    assert SpendCurve([], budget_usd=0.004).mixture()[2] == 1.0


class PerArmMean:
    """A context-aware regressor for tests: mean reward per (caller, arm) seen so far."""

    def __init__(self) -> None:
        self.sums: dict[tuple[str, str], list[float]] = {}

    def predict_rewards(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]:
        caller = context.namespaces[0].features[0][0]
        out = []
        for arm in arms:
            total, count = self.sums.get((caller, arm.id), [0.0, 0.0])
            out.append(total / count if count else 1.0)  # optimistic before any data
        return tuple(out)

    def learn(self, interaction: Interaction) -> None:
        caller = interaction.context.namespaces[0].features[0][0]
        entry = self.sums.setdefault((caller, interaction.arms[interaction.chosen].id), [0, 0])
        entry[0] += interaction.reward
        entry[1] += 1

    def to_bytes(self) -> bytes:
        return b""


ARMS = (Arm("cheap", (Namespace("Model", (("cheap", 1.0),)),)), Arm("dear"))
HARD = Context((Namespace("caller", (("hard", 1.0),)),))
EASY = Context((Namespace("caller", (("easy", 1.0),)),))
#: What each (caller, model) would pay; the policy only ever sees the chosen one.
QUALITY = {("hard", 0): 0.0, ("hard", 1): 1.0, ("easy", 0): 1.0, ("easy", 1): 1.0}
COST = {0: CHEAP, 1: DEAR}


def run_budget(budget: float, n: int, *, poison: bool = False, seed: int = 3) -> BudgetedPolicy:
    """Route ``n`` requests under ``budget``; with ``poison`` every arm that was *not* chosen
    gets an absurd outcome recorded next to the interaction, where a leak would show."""
    policy = BudgetedPolicy(
        PerArmMean(),
        budget,
        ExplorationSettings(gamma_scale=20.0, min_probability=0.0),
        ControllerSettings(calibration=1000),
    )
    learner = Learner(policy)
    rng = np.random.default_rng(seed)
    for i in range(n):
        context = HARD if rng.random() < 0.5 else EASY
        caller = context.namespaces[0].features[0][0]
        decision = learner.decide(f"d{i}", context, ARMS)
        learner.learn(
            Interaction(
                context,
                ARMS,
                decision.chosen,
                decision.propensity,
                QUALITY[(caller, decision.chosen)],
                cost_usd=COST[decision.chosen],
            )
        )
        if poison:
            POISONED.append({a: (-1e6, 1e6) for a in range(2) if a != decision.chosen})
    return policy


POISONED: list[dict[int, tuple[float, float]]] = []


def greedy_spend(policy: BudgetedPolicy, n: int = 4000) -> tuple[float, float]:
    """Mean cost and quality of the greedy (mixed) policy on fresh requests."""
    rng = np.random.default_rng(99)
    cost = quality = 0.0
    for i in range(n):
        context = HARD if rng.random() < 0.5 else EASY
        chosen = policy.greedy(f"h{i}", context, ARMS)
        cost += COST[chosen]
        quality += QUALITY[(context.namespaces[0].features[0][0], chosen)]
    return cost / n, quality / n


def test_a_budget_between_the_operating_points_is_met_by_mixing_them() -> None:
    # Budget 0.004: all-cheap costs 0.001, hard-to-dear 0.0055. Spending 0.004 means sending
    # 2/3 of the hard prompts to dear, which only a mixture of two cost weights can do.
    policy = run_budget(0.004, 6000)
    cost, quality = greedy_spend(policy)
    assert cost == pytest.approx(0.004, rel=0.1)
    assert 0.75 < quality < 0.9
    status = policy.status()
    assert status.budget_usd == 0.004
    # The controller sits at the weight where a hard prompt's gain from dear (1.0) equals its
    # extra cost: 1 / 0.009 = 111 reward per USD, where the two operating points meet.
    assert status.cost_weight == pytest.approx(1.0 / (DEAR - CHEAP), rel=0.1)
    assert status.mean_spend_usd is not None


def test_a_generous_budget_buys_the_best_quality_and_a_tight_one_the_cheapest() -> None:
    generous = greedy_spend(run_budget(0.02, 3000))
    tight = greedy_spend(run_budget(0.0009, 3000))
    assert generous[1] == pytest.approx(1.0)
    assert tight[0] == pytest.approx(CHEAP, rel=0.05)
    assert tight[1] == pytest.approx(0.5, abs=0.05)


def test_outcomes_of_arms_not_called_never_reach_the_policy() -> None:
    # The poisoned records sit beside the stream; the policy's state must be what it is without
    # them: the same bytes as a run that never had them.
    POISONED.clear()
    clean = run_budget(0.004, 1500).to_bytes()
    poisoned = run_budget(0.004, 1500, poison=True).to_bytes()
    assert len(POISONED) == 1500
    assert clean == poisoned


def test_the_controller_ignores_costs_of_arms_it_did_not_choose() -> None:
    # An interaction carries only the chosen arm's cost: the cost model has no arm it was
    # never told about, whatever the other arms would have cost.
    policy = BudgetedPolicy(PerArmMean(), 0.004, ExplorationSettings())
    policy.learn(Interaction(HARD, ARMS, 0, 0.5, 0.0, cost_usd=CHEAP))
    costs = CostModel(state=split_snapshot(policy.to_bytes())[0]["costs"])
    assert costs.state()["arms"].keys() == {"cheap"}
    assert policy.status().mean_spend_usd == CHEAP


def test_without_recent_requests_greedy_decisions_use_the_current_cost_weight() -> None:
    policy = BudgetedPolicy(PerArmMean(), 0.004, ExplorationSettings())
    for _ in range(20):
        policy.learn(Interaction(HARD, ARMS, 1, 0.5, 1.0, cost_usd=DEAR))
    weight = policy.status().cost_weight
    assert policy.greedy_mixture() == (weight, weight, 1.0)
    assert b'"recent": []' in policy.to_bytes()


def test_an_interaction_without_a_cost_teaches_the_controller_nothing() -> None:
    policy = BudgetedPolicy(PerArmMean(), 0.004, ExplorationSettings())
    before = policy.status()
    policy.learn(Interaction(HARD, ARMS, 1, 0.5, 1.0))
    assert policy.status() == before


def test_a_budgeted_snapshot_restores_a_budgeted_policy_without_being_told_its_budget() -> None:
    # Readers of stored snapshots (the drift report's pmf changes) know only the exploration
    # settings: the snapshot carries its budget.
    from bandit.factory import make_policy

    settings = ExplorationSettings(seed=3)

    def build(*, budget_usd: float | None = None, snapshot: bytes | None = None) -> Policy:
        return make_policy(
            settings,
            context_namespaces=("caller",),
            arm_namespaces=("Model",),
            snapshot=snapshot,
            budget_usd=budget_usd,
        )

    original = build(budget_usd=0.004)
    for i in range(50):
        context = HARD if i % 2 else EASY
        original.learn(Interaction(context, ARMS, i % 2, 0.5, float(i % 2), cost_usd=COST[i % 2]))
    restored = build(snapshot=original.to_bytes())
    assert isinstance(original, BudgetedPolicy)
    assert isinstance(restored, BudgetedPolicy)
    assert restored.status() == original.status()
    assert restored.predict(HARD, ARMS) == original.predict(HARD, ARMS)
