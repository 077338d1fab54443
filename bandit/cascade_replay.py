"""Offline replay of a learned cascade with bandit feedback.

Each prompt goes through the two decisions of :mod:`bandit.cascade`. The replay reads only the
outcomes of the calls the cascade made (the first model, the probe, and the escalation model if
any) and only the escalation context of the first model it chose; the learners see nothing
else. Holdout prompts are never learned from; both stages are then evaluated greedily.

Under a budget the escalation policy is a :class:`~bandit.budget.BudgetedPolicy` whose budget
is the cascade's whole spend per prompt: it learns the kept answer's quality (the rule's cost
weight is 0), and each escalation arm's cost is the cost of every call the cascade made with
it (first model, probe, escalation), so its controller steers the cascade's total spend to the
budget. The first stage learns its own answer's reward at the controller's current cost
weight. On the holdout the escalation decision is the budgeted policy's greedy one, which may
draw between the two cost weights around the budget.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from bandit.budget import BudgetedPolicy
from bandit.cascade import ACCEPT, CascadeSpec, cascade_reward
from bandit.learner import Learner
from bandit.policy import Policy
from bandit.replay import Outcome
from bandit.reward import MAX_COST_WEIGHT, RewardRule
from bandit.types import Arm, Context, Decision, Interaction

__all__ = ["CascadeEvent", "CascadeResult", "CascadeSummary", "replay_cascade"]


@dataclass(frozen=True, slots=True)
class CascadeEvent:
    """One prompt: its request context, every model's outcome, and for each first-stage model
    the escalation context its answer gives (signals computed by the router's feature code)."""

    id: str
    context: Context
    outcomes: Mapping[str, Outcome]
    escalation: Mapping[str, Context]
    source: str | None = None


@dataclass(frozen=True, slots=True)
class CascadeSummary:
    events: int
    mean_quality: float
    mean_cost_usd: float
    mean_reward: float
    escalation_rate: float
    #: How often each first-stage model was called first.
    first_share: Mapping[str, float] = field(default_factory=dict)
    #: How often each escalation arm (``accept`` included) was chosen.
    escalation_share: Mapping[str, float] = field(default_factory=dict)
    #: The escalation rate among each source's prompts.
    escalation_rate_by_source: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CascadeResult:
    online: CascadeSummary
    holdout: CascadeSummary
    #: Under a budget: the cost weight the escalation policy's controller ended at, and the
    #: holdout's greedy mixture ``(cost weight a, cost weight b, probability of a)``.
    final_cost_weight: float | None = None
    holdout_mixture: tuple[float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    first: str
    escalation: str
    quality: float
    cost_usd: float
    reward: float
    #: The first answer's own reward: the first stage's learning signal.
    first_reward: float
    source: str | None


def replay_cascade(
    train: Sequence[CascadeEvent],
    holdout: Sequence[CascadeEvent],
    spec: CascadeSpec,
    first_arms: tuple[Arm, ...],
    escalation_arms: tuple[Arm, ...],
    rule: RewardRule,
    first_policy: Policy,
    escalation_policy: Policy,
    *,
    passes: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> CascadeResult:
    """Learn both stages online from ``train`` for ``passes`` shuffled passes, then evaluate
    them greedily on ``holdout``. ``first_arms`` and ``escalation_arms`` follow ``spec``.

    A :class:`~bandit.budget.BudgetedPolicy` as ``escalation_policy`` runs the cascade under
    its budget (see the module's docstring); ``rule`` must then have a cost weight of 0.
    """
    budgeted = escalation_policy if isinstance(escalation_policy, BudgetedPolicy) else None
    if budgeted is not None and rule.cost_weight != 0.0:
        raise ValueError(
            f"Under a budget the cascade's reward rule has no cost weight (got "
            f"{rule.cost_weight!r}): the budgeted escalation policy's controller sets it."
        )
    if tuple(a.id for a in first_arms) != spec.first:
        raise ValueError(f"The first-stage arms {[a.id for a in first_arms]} are not {spec.first}.")
    if tuple(a.id for a in escalation_arms) != spec.escalation_arms:
        raise ValueError(
            f"The escalation arms {[a.id for a in escalation_arms]} are not {spec.escalation_arms}."
        )
    first = Learner(first_policy)
    second = Learner(escalation_policy)
    rng = np.random.default_rng(seed)
    online: list[_Step] = []
    for pass_index in range(passes):
        for position in rng.permutation(len(train)):
            event = train[int(position)]
            prefix = f"{seed}:{pass_index}:{event.id}"
            one = first.decide(f"{prefix}:first", event.context, first_arms)
            two = second.decide(f"{prefix}:escalate", event.escalation[one.model], escalation_arms)
            if budgeted is None:
                step = _play(event, spec, rule, one.model, two.model)
                second.learn(_interaction(two, step.reward))
                first.learn(_interaction(one, step.first_reward))
            else:
                # The first stage is scored at the cost weight the controller holds now (a
                # budget below what exploration alone spends drives it past any rule's range).
                weight = min(budgeted.status().cost_weight, MAX_COST_WEIGHT)
                step = _play(event, spec, replace(rule, cost_weight=weight), one.model, two.model)
                # The escalation policy learns quality alone, and the spend of every call.
                quality = cascade_reward(rule, step.quality, ())
                second.learn(_interaction(two, quality, cost_usd=step.cost_usd))
                first.learn(_interaction(one, step.first_reward))
            online.append(step)
            if progress is not None:
                progress(1)
    greedy = []
    for event in holdout:
        chosen = spec.first[_argmax(first.policy.predict(event.context, first_arms))]
        context = event.escalation[chosen]
        if budgeted is None:
            index = _argmax(second.policy.predict(context, escalation_arms))
        else:
            index = budgeted.greedy(f"{seed}:holdout:{event.id}", context, escalation_arms)
        arm = spec.escalation_arms[index]
        greedy.append(_play(event, spec, rule, chosen, arm))
    return CascadeResult(
        online=_summarise(online, spec),
        holdout=_summarise(greedy, spec),
        final_cost_weight=None if budgeted is None else budgeted.status().cost_weight,
        holdout_mixture=None if budgeted is None else budgeted.greedy_mixture(),
    )


def _play(event: CascadeEvent, spec: CascadeSpec, rule: RewardRule, first: str, arm: str) -> _Step:
    """The calls a cascade makes for one prompt, reading only their outcomes."""
    answer = event.outcomes[first]
    costs = [answer.cost_usd]
    if spec.probe is not None:
        costs.append(event.outcomes[spec.probe].cost_usd)
    quality = answer.quality
    if arm != ACCEPT:
        escalated = event.outcomes[arm]
        costs.append(escalated.cost_usd)
        quality = escalated.quality
    return _Step(
        first=first,
        escalation=arm,
        quality=quality,
        cost_usd=math.fsum(costs),
        reward=cascade_reward(rule, quality, costs),
        first_reward=cascade_reward(rule, answer.quality, costs[:1]),
        source=event.source,
    )


def _interaction(
    decision: Decision, reward: float, *, cost_usd: float | None = None
) -> Interaction:
    return Interaction(
        context=decision.context,
        arms=decision.arms,
        chosen=decision.chosen,
        propensity=decision.propensity,
        reward=reward,
        cost_usd=cost_usd,
    )


def _argmax(pmf: Sequence[float]) -> int:
    return max(range(len(pmf)), key=pmf.__getitem__)


def _summarise(steps: Sequence[_Step], spec: CascadeSpec) -> CascadeSummary:
    n = len(steps)
    if n == 0:
        nan = math.nan
        return CascadeSummary(0, nan, nan, nan, nan)
    firsts = Counter(s.first for s in steps)
    arms = Counter(s.escalation for s in steps)
    by_source: dict[str, list[bool]] = {}
    for s in steps:
        if s.source is not None:
            by_source.setdefault(s.source, []).append(s.escalation != ACCEPT)
    return CascadeSummary(
        events=n,
        mean_quality=math.fsum(s.quality for s in steps) / n,
        mean_cost_usd=math.fsum(s.cost_usd for s in steps) / n,
        mean_reward=math.fsum(s.reward for s in steps) / n,
        escalation_rate=1.0 - arms.get(ACCEPT, 0) / n,
        first_share={m: firsts.get(m, 0) / n for m in spec.first},
        escalation_share={a: arms.get(a, 0) / n for a in spec.escalation_arms},
        escalation_rate_by_source={
            source: sum(flags) / len(flags) for source, flags in sorted(by_source.items())
        },
    )
