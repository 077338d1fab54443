"""Offline replay with bandit feedback: stream logged prompts through a learner.

Every model's outcome is known for every prompt, but the learner sees only the outcome of the
model it chose, exactly as in production. Holdout prompts are never learned from; after the
online passes the policy is evaluated on them greedily (no exploration).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bandit.learner import Learner
from bandit.policy import Policy
from bandit.reward import Observation, RewardRule, join
from bandit.types import Arm, Context, Interaction

__all__ = [
    "Baselines",
    "CurvePoint",
    "Outcome",
    "Point",
    "ReplayEvent",
    "ReplayResult",
    "Summary",
    "baselines",
    "in_holdout",
    "replay",
    "summarise",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one model's answer to one prompt was worth and cost."""

    quality: float
    cost_usd: float
    latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    id: str
    context: Context
    outcomes: Mapping[str, Outcome]
    #: The prompt's task or origin (the dataset's ``source``), for per-source reports only.
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    events: int
    mean_quality: float
    mean_cost_usd: float
    mean_reward: float
    model_share: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Online means over the trailing window (a tenth of the run) that ends at ``events``."""

    events: int
    mean_quality: float
    mean_cost_usd: float


@dataclass(frozen=True, slots=True)
class ReplayResult:
    online: Summary
    holdout: Summary
    curve: tuple[CurvePoint, ...]
    #: Where the greedy policy sent each source's holdout prompts: source -> model -> share.
    holdout_share_by_source: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def in_holdout(prompt_id: str, seed: int, fraction: float) -> bool:
    """Stable split: a sha256 of seed and id, so every process and run agrees.

    >>> in_holdout("p1", 0, 0.0), in_holdout("p1", 0, 1.0)
    (False, True)
    """
    digest = hashlib.sha256(f"{seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _reward(rule: RewardRule, outcome: Outcome) -> float:
    latency_ms = None if outcome.latency_s is None else outcome.latency_s * 1e3
    joined = join(
        rule,
        [Observation("replay", 0.0, 0, outcome.quality, outcome.cost_usd, latency_ms)],
    )
    assert joined.reward is not None  # a score is always present
    return joined.reward


class _RewardOf:
    """Each outcome's reward under one rule, joined once.

    The join is the server's code and pure; a replay asks for the same outcomes on every pass
    and again for its summaries. Entries keep their outcome, so an id is never reused.
    """

    def __init__(self, rule: RewardRule) -> None:
        self._rule = rule
        self._joined: dict[int, tuple[Outcome, float]] = {}

    def __call__(self, outcome: Outcome) -> float:
        entry = self._joined.get(id(outcome))
        if entry is None or entry[0] is not outcome:
            entry = (outcome, _reward(self._rule, outcome))
            self._joined[id(outcome)] = entry
        return entry[1]


def summarise(
    chosen: Sequence[tuple[str, Outcome]], rule: RewardRule, models: Sequence[str] = ()
) -> Summary:
    """Means over ``(model, outcome)`` pairs and each model's share of them."""
    return _summarise(chosen, _RewardOf(rule), models)


def _summarise(
    chosen: Sequence[tuple[str, Outcome]],
    reward_of: Callable[[Outcome], float],
    models: Sequence[str],
) -> Summary:
    n = len(chosen)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, dict.fromkeys(models, 0.0))
    counts = Counter(model for model, _ in chosen)
    return Summary(
        events=n,
        mean_quality=math.fsum(o.quality for _, o in chosen) / n,
        mean_cost_usd=math.fsum(o.cost_usd for _, o in chosen) / n,
        mean_reward=math.fsum(reward_of(o) for _, o in chosen) / n,
        model_share={m: counts.get(m, 0) / n for m in (models or sorted(counts))},
    )


def replay(
    train: Sequence[ReplayEvent],
    holdout: Sequence[ReplayEvent],
    arms: tuple[Arm, ...],
    rule: RewardRule,
    policy: Policy,
    *,
    passes: int,
    seed: int,
    curve_points: int = 50,
    progress: Callable[[int], None] | None = None,
    holdout_choice: Callable[[str, Context, tuple[Arm, ...]], int] | None = None,
) -> ReplayResult:
    """Learn online from ``train`` for ``passes`` shuffled passes, then evaluate on ``holdout``.

    ``progress`` is called with the number of events just processed. The holdout goes to the
    arm with the highest probability, or to ``holdout_choice(decision id, context, arms)``: a
    budgeted policy's greedy choice, which keeps the randomisation its budget needs.
    """
    learner = Learner(policy)
    reward_of = _RewardOf(rule)
    models = [arm.id for arm in arms]
    rng = np.random.default_rng(seed)
    online: list[tuple[str, Outcome]] = []
    total = passes * len(train)
    every = max(1, total // curve_points)
    window_size = max(every, total // 10)
    curve: list[CurvePoint] = []
    for pass_index in range(passes):
        for position in rng.permutation(len(train)):
            event = train[int(position)]
            decision = learner.decide(f"{seed}:{pass_index}:{event.id}", event.context, arms)
            outcome = event.outcomes[decision.model]
            learner.learn(
                Interaction(
                    context=event.context,
                    arms=arms,
                    chosen=decision.chosen,
                    propensity=decision.propensity,
                    reward=reward_of(outcome),
                    cost_usd=outcome.cost_usd,
                )
            )
            online.append((decision.model, outcome))
            if len(online) % every == 0:
                window = online[-window_size:]
                curve.append(
                    CurvePoint(
                        events=len(online),
                        mean_quality=math.fsum(o.quality for _, o in window) / len(window),
                        mean_cost_usd=math.fsum(o.cost_usd for _, o in window) / len(window),
                    )
                )
                if progress is not None:
                    progress(every)
    greedy: list[tuple[str, Outcome]] = []
    by_source: dict[str, Counter[str]] = {}
    for event in holdout:
        if holdout_choice is None:
            pmf = learner.policy.predict(event.context, arms)
            best = max(range(len(pmf)), key=pmf.__getitem__)
        else:
            best = holdout_choice(f"{seed}:holdout:{event.id}", event.context, arms)
        greedy.append((models[best], event.outcomes[models[best]]))
        if event.source is not None:
            by_source.setdefault(event.source, Counter())[models[best]] += 1
    return ReplayResult(
        online=_summarise(online, reward_of, models),
        holdout=_summarise(greedy, reward_of, models),
        curve=tuple(curve),
        holdout_share_by_source={
            source: {m: n / counts.total() for m, n in sorted(counts.items())}
            for source, counts in sorted(by_source.items())
        },
    )


@dataclass(frozen=True, slots=True)
class Point:
    """Mean quality and cost of one way of routing the holdout prompts."""

    mean_quality: float
    mean_cost_usd: float


@dataclass(frozen=True, slots=True)
class Baselines:
    per_model: Mapping[str, Point]
    best_single_model: str
    oracle: Point
    random: Point


def baselines(holdout: Sequence[ReplayEvent], models: Sequence[str]) -> Baselines:
    """Every single model, the best of them (by quality, then cost), the oracle and random.

    The oracle sends each prompt to its best-quality model, the cheapest among ties; random is
    the expectation of choosing uniformly.
    """
    if not holdout:
        raise ValueError("Baselines need at least one holdout prompt.")
    n = len(holdout)
    per_model = {
        m: Point(
            math.fsum(e.outcomes[m].quality for e in holdout) / n,
            math.fsum(e.outcomes[m].cost_usd for e in holdout) / n,
        )
        for m in models
    }
    best = max(models, key=lambda m: (per_model[m].mean_quality, -per_model[m].mean_cost_usd))
    oracle = [max(e.outcomes.values(), key=lambda o: (o.quality, -o.cost_usd)) for e in holdout]
    return Baselines(
        per_model=per_model,
        best_single_model=best,
        oracle=Point(
            math.fsum(o.quality for o in oracle) / n, math.fsum(o.cost_usd for o in oracle) / n
        ),
        random=Point(
            math.fsum(p.mean_quality for p in per_model.values()) / len(models),
            math.fsum(p.mean_cost_usd for p in per_model.values()) / len(models),
        ),
    )
