"""The reward join rule. Numbers are chosen to be exact in binary, so results compare with ==."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import pytest

from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    PROXY_SOURCE,
    Aggregation,
    JoinedReward,
    Observation,
    RewardRule,
    SourceRule,
    join,
    window_closed_by,
)


def test_source_weights_average_the_scores() -> None:
    rule = RewardRule(sources={"reviewer": SourceRule(weight=3.0)})
    observations = [
        Observation("reviewer", at=10.0, seq=1, score=0.5),
        Observation("user", at=11.0, seq=2, score=0.25),
    ]

    # (3 * 0.5 + 1 * 0.25) / (3 + 1): "user" is not listed, so it weighs 1.
    assert join(rule, observations) == JoinedReward(
        reward=0.4375, quality=0.4375, cost_usd=None, latency_ms=None
    )


def test_weights_only_count_for_sources_that_sent_a_score() -> None:
    rule = RewardRule(sources={"reviewer": SourceRule(weight=3.0), "judge": SourceRule(1.0)})

    joined = join(rule, [Observation("judge", at=1.0, seq=1, score=0.75)])

    assert joined.quality == 0.75


# Out of order in the list; ordered by (at, seq) the scores are 0.25, 0.5, 0.75.
_REPEATED = [
    Observation("reviewer", at=20.0, seq=1, score=0.75),
    Observation("reviewer", at=10.0, seq=5, score=0.5),
    Observation("reviewer", at=10.0, seq=4, score=0.25),
]


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("earliest", 0.25), ("latest", 0.75), ("mean", 0.5)],
)
def test_aggregation_orders_by_time_then_sequence(aggregation: str, expected: float) -> None:
    rule = RewardRule(sources={"reviewer": SourceRule(aggregation=cast(Aggregation, aggregation))})

    assert join(rule, _REPEATED).quality == expected
    assert join(rule, _REPEATED[::-1]).quality == expected


def test_default_aggregation_is_earliest() -> None:
    assert join(RewardRule(), _REPEATED).quality == 0.25


def test_mean_is_per_source_before_weighting() -> None:
    rule = RewardRule(
        sources={
            "reviewer": SourceRule(weight=1.0, aggregation="mean"),
            "judge": SourceRule(weight=3.0, aggregation="latest"),
        }
    )
    observations = [
        Observation("reviewer", at=1.0, seq=1, score=0.25),
        Observation("reviewer", at=2.0, seq=2, score=0.75),
        Observation("judge", at=3.0, seq=3, score=0.0),
        Observation("judge", at=4.0, seq=4, score=1.0),
    ]

    # reviewer mean 0.5 (weight 1), judge latest 1.0 (weight 3): (0.5 + 3.0) / 4.
    assert join(rule, observations).quality == 0.875


def test_zero_weight_sources_are_ignored() -> None:
    rule = RewardRule(sources={"judge": SourceRule(weight=0.0)})
    observations = [
        Observation("judge", at=1.0, seq=1, score=1.0),
        Observation("user", at=2.0, seq=2, score=0.25),
    ]

    assert join(rule, observations).quality == 0.25


def test_only_zero_weight_scores_count_as_no_score() -> None:
    rule = RewardRule(sources={"judge": SourceRule(weight=0.0)}, default_reward=0.5)

    joined = join(rule, [Observation("judge", at=1.0, seq=1, score=1.0)])

    assert joined == JoinedReward(reward=0.5, quality=None, cost_usd=None, latency_ms=None)


def test_cost_and_latency_are_subtracted() -> None:
    rule = RewardRule(cost_weight=2.0, latency_weight=0.5)
    observations = [
        Observation("app", at=1.0, seq=1, cost_usd=0.125, latency_ms=500.0),
        Observation("user", at=2.0, seq=2, score=0.75),
    ]

    # 0.75 - 2 * 0.125 - 0.5 * (500 ms = 0.5 s) = 0.25
    assert join(rule, observations) == JoinedReward(
        reward=0.25, quality=0.75, cost_usd=0.125, latency_ms=500.0
    )


def test_the_earliest_cost_and_latency_are_used() -> None:
    rule = RewardRule(cost_weight=1.0, latency_weight=1.0)
    observations = [
        Observation("app", at=5.0, seq=3, cost_usd=0.5, latency_ms=4000.0),
        Observation("user", at=2.0, seq=2, score=1.0, latency_ms=250.0),
        Observation("app", at=2.0, seq=1, cost_usd=0.25),
        Observation("retry", at=1.0, seq=9, latency_ms=None, cost_usd=None),
    ]

    joined = join(rule, observations)

    # cost from seq 1 (at 2.0), latency from seq 2 (at 2.0): 1.0 - 0.25 - 0.25 = 0.5
    assert joined == JoinedReward(reward=0.5, quality=1.0, cost_usd=0.25, latency_ms=250.0)


def test_default_reward_is_used_without_a_score_and_still_pays_for_cost() -> None:
    rule = RewardRule(cost_weight=2.0, latency_weight=0.25, default_reward=0.5)
    observations = [Observation("app", at=1.0, seq=1, cost_usd=0.0625, latency_ms=1000.0)]

    # 0.5 - 2 * 0.0625 - 0.25 * 1 s = 0.125
    assert join(rule, observations) == JoinedReward(
        reward=0.125, quality=None, cost_usd=0.0625, latency_ms=1000.0
    )


def test_no_score_and_no_default_is_not_learned() -> None:
    rule = RewardRule(cost_weight=2.0)
    observations = [Observation("app", at=1.0, seq=1, cost_usd=0.0625, latency_ms=1000.0)]

    assert join(rule, observations) == JoinedReward(
        reward=None, quality=None, cost_usd=0.0625, latency_ms=1000.0
    )


def test_no_feedback_at_all_uses_the_default() -> None:
    assert join(RewardRule(default_reward=0.0), []) == JoinedReward(0.0, None, None, None)
    assert join(RewardRule(), []) == JoinedReward(None, None, None, None)


def test_zero_default_reward_is_used_not_skipped() -> None:
    rule = RewardRule(cost_weight=1.0, default_reward=0.0)

    joined = join(rule, [Observation("app", at=1.0, seq=1, cost_usd=0.25)])

    assert joined.reward == -0.25


@pytest.mark.parametrize(
    ("wait_seconds", "observation", "closes"),
    [
        (0.0, Observation("user", at=1.0, seq=1, score=0.5), True),
        (0.0, Observation("user", at=1.0, seq=1, score=0.0), True),
        (0.0, Observation("app", at=1.0, seq=1, cost_usd=0.1, latency_ms=10.0), False),
        (30.0, Observation("user", at=1.0, seq=1, score=0.5), False),
        (0.0, Observation("app", at=1.0, seq=1, error=True), True),
        (30.0, Observation("app", at=1.0, seq=1, error=True), False),
    ],
)
def test_window_closed_by(wait_seconds: float, observation: Observation, closes: bool) -> None:
    assert window_closed_by(RewardRule(wait_seconds=wait_seconds), observation) is closes


@pytest.mark.parametrize("weight", [-0.5, math.nan, math.inf, 1000.5])
def test_source_rule_rejects_bad_weights(weight: float) -> None:
    with pytest.raises(ValueError, match="source weight") as error:
        SourceRule(weight=weight)
    assert repr(weight) in str(error.value)


def test_source_rule_rejects_unknown_aggregation() -> None:
    with pytest.raises(ValueError, match="'median' is not one of earliest, latest, mean"):
        SourceRule(aggregation=cast(Aggregation, "median"))


_RULE_WITH: dict[str, Callable[[float], RewardRule]] = {
    "cost_weight": lambda value: RewardRule(cost_weight=value),
    "latency_weight": lambda value: RewardRule(latency_weight=value),
    "wait_seconds": lambda value: RewardRule(wait_seconds=value),
}


@pytest.mark.parametrize("field", sorted(_RULE_WITH))
@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, 1e308])
def test_reward_rule_rejects_bad_numbers(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as error:
        _RULE_WITH[field](value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_reward_rule_rejects_non_finite_default(value: float) -> None:
    with pytest.raises(ValueError, match="default_reward"):
        RewardRule(default_reward=value)


def test_reward_rule_accepts_negative_default_and_zero_weights() -> None:
    rule = RewardRule(default_reward=-1.0, sources={"judge": SourceRule(weight=0.0)})

    assert rule.source("judge").weight == 0.0
    assert rule.source("anyone") == SourceRule(weight=1.0, aggregation="earliest")


def test_a_zero_weight_source_does_not_close_the_window() -> None:
    rule = RewardRule(sources={"bot": SourceRule(weight=0.0)})
    assert not window_closed_by(rule, Observation("bot", 0.0, 1, score=0.9))
    assert window_closed_by(rule, Observation("user", 0.0, 2, score=0.9))


def test_an_error_the_application_reported_is_learned_as_error_reward() -> None:
    rule = RewardRule(cost_weight=1.0, error_reward=-0.5)
    observations = [Observation("app", at=1.0, seq=1, error=True, cost_usd=0.25)]

    joined = join(rule, observations)

    assert joined == JoinedReward(reward=-0.75, quality=-0.5, cost_usd=0.25, latency_ms=None)


def test_an_error_only_the_proxy_saw_is_learned_where_its_successes_are() -> None:
    observed = [Observation(PROXY_SOURCE, at=1.0, seq=1, error=True, cost_usd=0.25)]
    learned = JoinedReward(reward=-0.75, quality=-0.5, cost_usd=0.25, latency_ms=None)
    with_default = RewardRule(cost_weight=1.0, error_reward=-0.5, default_reward=0.5)

    assert join(with_default, observed) == learned
    # No default_reward: the proxy's successes are not learned, so neither are its errors
    # (learning only the failures would push every model's estimate down by its traffic) ...
    without_default = RewardRule(cost_weight=1.0, error_reward=-0.5)
    assert join(without_default, observed).reward is None
    success = [Observation(PROXY_SOURCE, 1.0, 1, cost_usd=0.25)]
    assert join(without_default, success).reward is None
    # ... except in the judge's sample, whose successes are all graded.
    assert join(without_default, observed, sampled=True) == learned


def test_error_reward_defaults_to_the_worst_score_and_wins_over_default_reward() -> None:
    rule = RewardRule(default_reward=0.5)

    assert join(rule, [Observation("app", at=1.0, seq=1, error=True)]).reward == 0.0
    assert join(rule, [Observation("app", at=1.0, seq=1, latency_ms=8.0)]).reward == 0.5


def test_a_score_that_counts_wins_over_an_error() -> None:
    rule = RewardRule(error_reward=-1.0, sources={"bot": SourceRule(weight=0.0)})
    scored = [
        Observation("app", at=1.0, seq=1, error=True),
        Observation("user", at=2.0, seq=2, score=0.75),
    ]
    # A zero-weight score does not count, so the error decides.
    unscored = [scored[0], Observation("bot", at=2.0, seq=2, score=0.75)]

    assert join(rule, scored).quality == 0.75
    assert join(rule, unscored).quality == -1.0


def test_a_zero_weight_source_reporting_an_error_closes_the_window() -> None:
    rule = RewardRule(sources={"bot": SourceRule(weight=0.0)})
    assert window_closed_by(rule, Observation("bot", 0.0, 1, error=True))


@pytest.mark.parametrize("value", [math.nan, math.inf, -1.5, 1.25])
def test_reward_rule_rejects_error_reward_outside_its_range(value: float) -> None:
    with pytest.raises(ValueError, match="error_reward must be a number between -1 and 1") as e:
        RewardRule(error_reward=value)
    assert repr(value) in str(e.value)


def test_rewards_are_clipped_into_the_default_range() -> None:
    # Issue 9: cost_usd 1e308 at cost weight 25 made the reward -inf (a row written before
    # the input bounds); cost 1e4 flipped the preferred model for 60+ feedbacks.
    rule = RewardRule(cost_weight=25.0)
    worst = join(rule, [Observation("user", 0.0, 1, score=1.0, cost_usd=1e308)])
    costly = join(rule, [Observation("user", 0.0, 1, score=1.0, cost_usd=1e4)])

    assert worst.reward == costly.reward == DEFAULT_REWARD_RANGE[0]
    assert worst.cost_usd == 1e308  # what was reported stays visible; only the reward is clipped


def test_rewards_are_clipped_into_the_policys_own_range() -> None:
    rule = RewardRule(cost_weight=1.0, default_reward=0.0, reward_range=(-0.5, 0.5))

    assert join(rule, [Observation("u", 0.0, 1, score=0.75)]).reward == 0.5
    assert join(rule, [Observation("app", 0.0, 1, cost_usd=100.0)]).reward == -0.5
    assert join(rule, [Observation("u", 0.0, 1, score=0.25)]).reward == 0.25  # inside: unchanged


def test_a_reward_inside_the_range_is_not_changed() -> None:
    rule = RewardRule(cost_weight=80.0)
    observation = Observation("replay", 0.0, 0, score=0.0, cost_usd=0.029464)

    # The dearest RouterBench call at the replay's largest cost weight stays unclipped.
    assert join(rule, [observation]).reward == pytest.approx(-80.0 * 0.029464)


def test_clip_sends_nan_to_the_low_end() -> None:
    assert RewardRule(reward_range=(-1.0, 1.0)).clip(math.nan) == -1.0


@pytest.mark.parametrize(
    "reward_range",
    [(1.0, 1.0), (2.0, 1.0), (-math.inf, 0.0), (0.0, math.nan), (-2e6, 0.0)],
)
def test_reward_range_must_be_finite_and_ordered(reward_range: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="reward_range must be two finite numbers"):
        RewardRule(reward_range=reward_range)


def test_default_reward_must_lie_in_the_range() -> None:
    with pytest.raises(ValueError, match="default_reward must be a finite number within"):
        RewardRule(default_reward=20.0)
