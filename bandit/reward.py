"""The reward join rule: from a decision's feedback to the one number the learner uses.

``reward = sum(w[s] * score_s) / sum(w[s] present) - cost_weight * cost_usd
- latency_weight * latency_s``, where ``score_s`` aggregates source ``s``'s scores in the
window (earliest, latest or mean). Cost and latency are the earliest values reported.

A failed call counts too: when the window holds an error report and no score that counts, the
quality is the policy's ``error_reward`` (default 0, the worst score). A score that counts
wins over an error: whoever scored the answer saw what the caller got, retries included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "AGGREGATIONS",
    "ERROR_REWARD_RANGE",
    "Aggregation",
    "JoinedReward",
    "Observation",
    "RewardRule",
    "SourceRule",
    "join",
    "window_closed_by",
]

Aggregation = Literal["earliest", "latest", "mean"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
#: Bounds of ``error_reward``: it stands in for a quality (scores lie in [0, 1]), so it may
#: punish a failure below the worst answer, but no further than one full score below it.
ERROR_REWARD_RANGE = (-1.0, 1.0)


@dataclass(frozen=True, slots=True)
class SourceRule:
    """How one feedback source counts: its weight and how repeated scores combine."""

    weight: float = 1.0
    aggregation: Aggregation = "earliest"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and self.weight >= 0.0):
            raise ValueError(f"A source weight must be a non-negative number, got {self.weight!r}.")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"Aggregation {self.aggregation!r} is not one of {', '.join(AGGREGATIONS)}."
            )


@dataclass(frozen=True, slots=True)
class RewardRule:
    """A policy's reward definition.

    Sources not listed in ``sources`` count with ``SourceRule()`` (weight 1, earliest).
    ``wait_seconds == 0`` closes the window at the first score; otherwise it closes that many
    seconds after the decision. With no score in the window, ``error_reward`` is the quality
    when an error was reported, else ``default_reward`` is used, or the decision is not learned
    when that is ``None``.
    """

    sources: Mapping[str, SourceRule] = field(default_factory=dict)
    cost_weight: float = 0.0
    latency_weight: float = 0.0
    default_reward: float | None = None
    wait_seconds: float = 0.0
    error_reward: float = 0.0

    def __post_init__(self) -> None:
        for name in ("cost_weight", "latency_weight", "wait_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}.")
        if self.default_reward is not None and not math.isfinite(self.default_reward):
            raise ValueError(
                f"default_reward must be a finite number, got {self.default_reward!r}."
            )
        low, high = ERROR_REWARD_RANGE
        if not (math.isfinite(self.error_reward) and low <= self.error_reward <= high):
            raise ValueError(
                f"error_reward must be a number between {low:g} and {high:g}, "
                f"got {self.error_reward!r}."
            )

    def source(self, name: str) -> SourceRule:
        return self.sources.get(name, _DEFAULT_SOURCE)


_DEFAULT_SOURCE = SourceRule()


@dataclass(frozen=True, slots=True)
class Observation:
    """One feedback as the join sees it; ``at`` is seconds since the epoch, ``seq`` its order."""

    source: str
    at: float
    seq: int
    score: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    #: The call failed (the feedback carried an ``error``).
    error: bool = False

    def __post_init__(self) -> None:
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"A score must be in [0, 1], got {self.score!r}.")
        for name in ("cost_usd", "latency_ms"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a non-negative number, got {value!r}.")


@dataclass(frozen=True, slots=True)
class JoinedReward:
    """The outcome of a join. ``reward`` is ``None`` when the decision is not to be learned."""

    reward: float | None
    quality: float | None
    cost_usd: float | None
    latency_ms: float | None


def window_closed_by(rule: RewardRule, observation: Observation) -> bool:
    """Whether this feedback closes the window on its own (``wait_seconds == 0``).

    A score that counts (a source with weight above zero) closes it, and so does an error
    report: a failed call is an outcome, and waiting for a score that may never come would
    leave it unlearned.

    >>> rule = RewardRule()
    >>> window_closed_by(rule, Observation("app", 0.0, 1, latency_ms=120.0))
    False
    >>> window_closed_by(rule, Observation("app", 0.0, 1, error=True))
    True
    """
    if rule.wait_seconds != 0.0:
        return False
    if observation.error:
        return True
    return observation.score is not None and rule.source(observation.source).weight > 0.0


def join(rule: RewardRule, observations: Sequence[Observation]) -> JoinedReward:
    """Combine the in-window ``observations`` of one decision into its reward.

    >>> rule = RewardRule(cost_weight=10.0)
    >>> join(rule, [Observation("user", 0.0, 1, score=0.8, cost_usd=0.01)]).reward
    0.7000000000000001
    >>> join(rule, [Observation("app", 0.0, 1, error=True, cost_usd=0.01)]).quality
    0.0
    """
    ordered = sorted(observations, key=lambda o: (o.at, o.seq))
    quality = _quality(rule, ordered)
    if quality is None and any(o.error for o in ordered):
        quality = rule.error_reward
    cost = next((o.cost_usd for o in ordered if o.cost_usd is not None), None)
    latency = next((o.latency_ms for o in ordered if o.latency_ms is not None), None)
    base = quality if quality is not None else rule.default_reward
    if base is None:
        return JoinedReward(reward=None, quality=None, cost_usd=cost, latency_ms=latency)
    reward = base - rule.cost_weight * (cost or 0.0) - rule.latency_weight * (latency or 0.0) / 1e3
    return JoinedReward(reward=reward, quality=quality, cost_usd=cost, latency_ms=latency)


def _quality(rule: RewardRule, ordered: Sequence[Observation]) -> float | None:
    scores: dict[str, list[float]] = {}
    for observation in ordered:
        if observation.score is not None:
            scores.setdefault(observation.source, []).append(observation.score)
    weighted = 0.0
    total_weight = 0.0
    for source, values in scores.items():
        source_rule = rule.source(source)
        if source_rule.weight == 0.0:
            continue
        weighted += source_rule.weight * _aggregate(source_rule.aggregation, values)
        total_weight += source_rule.weight
    return weighted / total_weight if total_weight > 0.0 else None


def _aggregate(aggregation: Aggregation, values: Sequence[float]) -> float:
    if aggregation == "earliest":
        return values[0]
    if aggregation == "latest":
        return values[-1]
    return math.fsum(values) / len(values)
