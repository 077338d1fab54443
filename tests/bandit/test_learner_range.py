"""Issue 21, item 3: a widened ``reward_range`` stopped learning. Every learner now learns
from rewards clipped into one fixed range, so whatever range a policy states, the same
feedback teaches it the same thing as with the default range."""

from __future__ import annotations

import pytest

from bandit.factory import make_policy
from bandit.learner import Learner
from bandit.limits import MAX_COST_USD, MAX_LATENCY_MS
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    MAX_COST_WEIGHT,
    MAX_LATENCY_WEIGHT,
    MAX_REWARD_MAGNITUDE,
    Observation,
    RewardRule,
    join,
)
from bandit.settings import ExplorationSettings
from bandit.types import Interaction
from features import ARM_NAMESPACES, CONTEXT_NAMESPACES, arm_for_model, extract_context

ARMS = tuple(
    arm_for_model(name, input_usd_per_mtok=1.0, output_usd_per_mtok=1.0, declared={})
    for name in ("better", "worse")
)
CONTEXT = extract_context("hello", {}, word_key=b"k" * 16)


def _drive(magnitude: float) -> tuple[float, float]:
    """30 extreme feedbacks against the better model (cost and latency at their bounds,
    weights at theirs), then 100 clear ones for it. Its probability after each phase."""
    rule = RewardRule(
        cost_weight=MAX_COST_WEIGHT,
        latency_weight=MAX_LATENCY_WEIGHT,
        reward_range=(-magnitude, magnitude),
    )
    extreme = join(
        rule,
        [Observation("app", 0.0, 1, score=0.0, cost_usd=MAX_COST_USD, latency_ms=MAX_LATENCY_MS)],
    ).reward
    assert extreme == -magnitude
    learner = Learner(
        make_policy(
            ExplorationSettings(),
            context_namespaces=CONTEXT_NAMESPACES,
            arm_namespaces=ARM_NAMESPACES,
        )
    )
    for i in range(30):
        pmf = learner.decide(f"x{i}", CONTEXT, ARMS).pmf
        learner.learn(Interaction(CONTEXT, ARMS, 0, pmf[0], extreme))
    after_extremes = learner.policy.predict(CONTEXT, ARMS)[0]
    for i in range(100):
        pmf = learner.decide(f"c{i}", CONTEXT, ARMS).pmf
        learner.learn(Interaction(CONTEXT, ARMS, 0, pmf[0], 1.0))
    return after_extremes, learner.policy.predict(CONTEXT, ARMS)[0]


@pytest.mark.parametrize("magnitude", [1e2, 1e3, 1e4, MAX_REWARD_MAGNITUDE])
def test_any_allowed_range_learns_as_the_default_range_does(magnitude: float) -> None:
    default = _drive(DEFAULT_REWARD_RANGE[1])
    widened = _drive(magnitude)

    assert widened == pytest.approx(default)
    # Clear feedback moves the better model up again (on main it moved down: 0.021 -> 0.005).
    assert widened[1] > widened[0] * 3
