"""The reward join rule: from a decision's feedback to the one number the learner uses.

``reward = sum(w[s] * score_s) / sum(w[s] present) - cost_weight * cost_usd
- latency_weight * latency_s``, where ``score_s`` aggregates source ``s``'s scores in the
window (earliest, latest or mean). Cost and latency are the earliest values reported.

A failed call counts too: when the window holds an error report and no score that counts, the
quality is the policy's ``error_reward`` (default 0, the worst score). A score that counts
wins over an error: whoever scored the answer saw what the caller got, retries included.

The result is clipped into the rule's ``reward_range``, so that one extreme feedback (a cost
of 1e4 USD, or a row written before the input bounds existed) moves the learner no further
than a merely bad outcome.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_REWARD_RANGE",
    "ERROR_REWARD_RANGE",
    "LEARNER_RANGE",
    "MAX_COST_WEIGHT",
    "MAX_LATENCY_WEIGHT",
    "MAX_REWARD_MAGNITUDE",
    "MAX_SOURCE_WEIGHT",
    "MAX_WAIT_SECONDS",
    "PROXY_SOURCE",
    "Aggregation",
    "JoinedReward",
    "Observation",
    "RewardRule",
    "SourceRule",
    "for_learner",
    "join",
    "window_closed_by",
]

Aggregation = Literal["earliest", "latest", "mean"]
AGGREGATIONS: tuple[str, ...] = get_args(Aggregation)
#: Bounds of ``error_reward``: it stands in for a quality (scores lie in [0, 1]), so it may
#: punish a failure below the worst answer, but no further than one full score below it.
ERROR_REWARD_RANGE = (-1.0, 1.0)

# Upper bounds on what callers and operators may send. They are far above any real call or
# setting; they exist so that no accepted value can overflow a reward (1e308 * 25 is inf).
#: A reward window: 30 days.
MAX_WAIT_SECONDS = 30 * 24 * 3600.0
#: A feedback source's weight.
MAX_SOURCE_WEIGHT = 1000.0
#: Reward lost per USD.
MAX_COST_WEIGHT = 10_000.0
#: Reward lost per second of latency.
MAX_LATENCY_WEIGHT = 1000.0
#: The source of what the router's proxy observed of a call it made (latency, tokens, cost,
#: errors): never a score.
PROXY_SOURCE = "proxy"
#: Largest magnitude of ``default_reward`` and of either end of ``reward_range``.
MAX_REWARD_MAGNITUDE = 1e6
#: Scores are in [0, 1]; with the replay's cost weights (up to 80) the RouterBench rewards stay
#: within [-2.4, 1], so this default changes no replay figure while a single extreme feedback
#: counts at most about ten bad outcomes.
DEFAULT_REWARD_RANGE: tuple[float, float] = (-10.0, 10.0)


@dataclass(frozen=True, slots=True)
class SourceRule:
    """How one feedback source counts: its weight and how repeated scores combine."""

    weight: float = 1.0
    aggregation: Aggregation = "earliest"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.weight) and 0.0 <= self.weight <= MAX_SOURCE_WEIGHT):
            raise ValueError(
                f"A source weight must be a number between 0 and {MAX_SOURCE_WEIGHT:g}, "
                f"got {self.weight!r}."
            )
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(
                f"Aggregation {self.aggregation!r} is not one of {', '.join(AGGREGATIONS)}."
            )


@dataclass(frozen=True, slots=True)
class RewardRule:
    """A policy's reward definition.

    Sources not listed in ``sources`` count with ``SourceRule()`` (weight 1, earliest).
    ``wait_seconds == 0`` closes the window at the first score; otherwise it closes that many
    seconds after the decision. Every reward is clipped into ``reward_range`` (``low < high``).

    A decision with no score in its window (see ``join``) is learned only where a success
    observed the same way would be, so that what is learned stays a representative sample of
    what was routed:

    - with ``default_reward`` set, every decision is learned: an unscored success with it, an
      unscored failure with ``error_reward``;
    - a failure the application reported (feedback with an ``error`` from any source but the
      router's own ``proxy``) is learned with ``error_reward``: an application that reports
      failures scores its answers;
    - a failure only the proxy observed is learned when the decision is in the judge's
      sample (whose answers the judge grades), and not otherwise: the proxy never scores, so
      learning its failures without its successes would push each model down by its traffic.

    >>> RewardRule(reward_range=(1.0, -1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: reward_range must be two finite numbers low < high ...
    """

    sources: Mapping[str, SourceRule] = field(default_factory=dict)
    cost_weight: float = 0.0
    latency_weight: float = 0.0
    default_reward: float | None = None
    wait_seconds: float = 0.0
    error_reward: float = 0.0
    reward_range: tuple[float, float] = DEFAULT_REWARD_RANGE

    def __post_init__(self) -> None:
        for name, ceiling in (
            ("cost_weight", MAX_COST_WEIGHT),
            ("latency_weight", MAX_LATENCY_WEIGHT),
            ("wait_seconds", MAX_WAIT_SECONDS),
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= ceiling):
                raise ValueError(
                    f"{name} must be a number between 0 and {ceiling:g}, got {value!r}."
                )
        low, high = self.reward_range
        if not (
            math.isfinite(low)
            and math.isfinite(high)
            and -MAX_REWARD_MAGNITUDE <= low < high <= MAX_REWARD_MAGNITUDE
        ):
            raise ValueError(
                "reward_range must be two finite numbers low < high within "
                f"[-{MAX_REWARD_MAGNITUDE:g}, {MAX_REWARD_MAGNITUDE:g}], got {self.reward_range!r}."
            )
        if self.default_reward is not None and not (
            math.isfinite(self.default_reward) and low <= self.default_reward <= high
        ):
            raise ValueError(
                "default_reward must be a finite number within reward_range "
                f"{self.reward_range!r}, got {self.default_reward!r}."
            )
        error_low, error_high = ERROR_REWARD_RANGE
        if not (math.isfinite(self.error_reward) and error_low <= self.error_reward <= error_high):
            raise ValueError(
                f"error_reward must be a number between {error_low:g} and {error_high:g}, "
                f"got {self.error_reward!r}."
            )

    def clip(self, reward: float) -> float:
        """``reward`` moved into ``reward_range``; a NaN (no finite input makes one) counts
        as the worst reward rather than reaching the learner.

        >>> RewardRule().clip(-1e308 * 25), RewardRule().clip(0.5)
        (-10.0, 0.5)
        """
        low, high = self.reward_range
        if math.isnan(reward):
            return low
        return min(max(reward, low), high)

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


#: What every learner learns from, whatever a policy's ``reward_range``: wider ranges are kept
#: for what is stored and reported, but a reward of a million taught the regression so much
#: that a thousand ordinary rewards later could not move it (issue 21). Within this range a
#: policy learns as fast as with the default, whichever range it states.
LEARNER_RANGE: tuple[float, float] = DEFAULT_REWARD_RANGE


def for_learner(reward: float) -> float:
    """``reward`` as the learner sees it: clipped into ``LEARNER_RANGE``. A non-finite one
    is passed on as it is: the learner refuses it and the row is set aside (quarantined).

    >>> for_learner(-1e6), for_learner(0.5)
    (-10.0, 0.5)
    """
    if not math.isfinite(reward):
        return reward
    low, high = LEARNER_RANGE
    return min(max(reward, low), high)


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


def join(
    rule: RewardRule,
    observations: Sequence[Observation],
    *,
    prior_cost_usd: float = 0.0,
    sampled: bool = False,
) -> JoinedReward:
    """Combine the in-window ``observations`` of one decision into its reward.

    ``prior_cost_usd`` is what was spent on the request before this decision (a cascade's
    first calls): it is added to the reported cost, so an escalation pays for both calls.
    ``sampled``: the decision is in the judge's sample, whose failures the proxy observed are
    learned whatever ``default_reward`` says (the rule is in ``RewardRule``'s docstring).

    >>> rule = RewardRule(cost_weight=10.0)
    >>> join(rule, [Observation("user", 0.0, 1, score=0.8, cost_usd=0.01)]).reward
    0.7000000000000001
    >>> join(rule, [Observation("app", 0.0, 1, error=True, cost_usd=0.01)]).quality
    0.0
    >>> join(rule, [Observation("proxy", 0.0, 1, error=True)]).reward is None
    True
    >>> join(rule, [Observation("proxy", 0.0, 1, error=True)], sampled=True).quality
    0.0
    >>> join(rule, [Observation("user", 0.0, 1, score=1.0)], prior_cost_usd=0.02).cost_usd
    0.02
    """
    if not (math.isfinite(prior_cost_usd) and prior_cost_usd >= 0.0):
        raise ValueError(f"prior_cost_usd must be a non-negative number, got {prior_cost_usd!r}.")
    ordered = sorted(observations, key=lambda o: (o.at, o.seq))
    quality = _quality(rule, ordered)
    if quality is None and _failure_counts(rule, ordered, sampled=sampled):
        quality = rule.error_reward
    cost = next((o.cost_usd for o in ordered if o.cost_usd is not None), None)
    if prior_cost_usd > 0.0:
        cost = (cost or 0.0) + prior_cost_usd
    latency = next((o.latency_ms for o in ordered if o.latency_ms is not None), None)
    base = quality if quality is not None else rule.default_reward
    if base is None:
        return JoinedReward(reward=None, quality=None, cost_usd=cost, latency_ms=latency)
    reward = base - rule.cost_weight * (cost or 0.0) - rule.latency_weight * (latency or 0.0) / 1e3
    return JoinedReward(
        reward=rule.clip(reward), quality=quality, cost_usd=cost, latency_ms=latency
    )


def _failure_counts(rule: RewardRule, ordered: Sequence[Observation], *, sampled: bool) -> bool:
    """Whether a reported failure is learned (the rule is in ``RewardRule``'s docstring)."""
    failures = [o for o in ordered if o.error]
    if not failures:
        return False
    if sampled or rule.default_reward is not None:
        return True
    return any(o.source != PROXY_SOURCE for o in failures)


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
