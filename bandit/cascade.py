"""Learned cascades: call a cheap model first, then decide whether to escalate.

A cascade has two decisions, each an ordinary contextual-bandit decision with its own learner,
so each logs an exact pmf and can be evaluated offline on its own:

1. the **first stage** picks the first model: a fixed one, or the bandit's choice among a few
   cheap models. With a **probe**, a second cheap model answers too, so the application can say
   whether the two answers agree.
2. the **escalation** decision sees the request's context, the signals about the first answer
   and the first model's id, and picks ``accept`` (keep the first answer) or a stronger model.

The escalation decision learns from the cascade's reward: the quality of the answer finally
kept minus the cost weight times the cost of every call made (first model, probe, escalation).
The first stage learns from its own answer, as any routing decision does (its quality less the
cost weight times its cost): that outcome is observed whatever the escalation did, whereas the
cascade's reward would make the first stage pay for the escalation decision's exploration (in
replays a first stage so taught sometimes settled on the worse cheap model for every task).

Serving a cascade takes these pieces: the first decision is ``Learner.decide`` over the arms
of ``spec.first`` on the request's context; the escalation question carries the first
decision's id and the signals, and its decision is ``Learner.decide`` over ``ACCEPT_ARM`` and
the arms of ``spec.escalate`` on ``features.signals.escalation_context(request context,
signals, first model)``, a policy built with the context namespaces ``CONTEXT_NAMESPACES +
ESCALATION_NAMESPACES``; its reward is :func:`cascade_reward` over the costs of every call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bandit.reward import Observation, RewardRule, join
from bandit.types import Arm, Namespace

__all__ = [
    "ACCEPT",
    "ACCEPT_ARM",
    "ESCALATION_SUFFIX",
    "CascadeSpec",
    "cascade_reward",
    "escalation_policy_name",
]

#: The escalation arm that keeps the first answer.
ACCEPT = "accept"
#: The ``accept`` arm, with a ``Model`` namespace shaped like every model arm's.
ACCEPT_ARM = Arm(ACCEPT, (Namespace("Model", ((f"id={ACCEPT}", 1.0),)),))


@dataclass(frozen=True, slots=True)
class CascadeSpec:
    """A policy's cascade: first-stage models, an optional probe, and the escalation models.

    One first model is a fixed first stage; several are the bandit's choice. The escalation
    decision's arms are ``accept`` followed by ``escalate``. No model may play two roles, and
    ``accept`` is not a model id.

    >>> spec = CascadeSpec(first=("yi-34b",), escalate=("gpt-4",), probe="mixtral")
    >>> spec.fixed_first, spec.escalation_arms
    ('yi-34b', ('accept', 'gpt-4'))
    >>> CascadeSpec(first=("yi-34b", "mixtral"), escalate=("gpt-4",)).fixed_first is None
    True
    >>> CascadeSpec(first=("yi-34b",), escalate=("yi-34b",))
    Traceback (most recent call last):
    ...
    ValueError: Model 'yi-34b' is both a first-stage model and an escalation model of the \
cascade; each model plays one role.
    """

    first: tuple[str, ...]
    escalate: tuple[str, ...]
    probe: str | None = None
    #: A model that scores the first answer (the signal ``judge_score``) when the router's
    #: proxy runs the cascade; it is not an arm of either decision.
    judge: str | None = None

    def __post_init__(self) -> None:
        _check_models("first-stage", self.first)
        _check_models("escalation", self.escalate)
        roles = [("a first-stage model", m) for m in self.first]
        roles += [("an escalation model", m) for m in self.escalate]
        if self.probe is not None:
            _check_models("probe", (self.probe,))
            roles.append(("the probe", self.probe))
        seen: dict[str, str] = {}
        for role, model in roles:
            if model in seen:
                raise ValueError(
                    f"Model {model!r} is both {seen[model]} and {role} of the cascade; "
                    "each model plays one role."
                )
            seen[model] = role
        if self.judge is not None:
            _check_models("judge", (self.judge,))

    @property
    def fixed_first(self) -> str | None:
        """The first model when the first stage is fixed, else None (the bandit chooses)."""
        return self.first[0] if len(self.first) == 1 else None

    @property
    def escalation_arms(self) -> tuple[str, ...]:
        """The escalation decision's arm ids: ``accept``, then the escalation models."""
        return (ACCEPT, *self.escalate)


def _check_models(role: str, models: Iterable[object]) -> None:
    listed = list(models)
    if not listed:
        raise ValueError(f"A cascade needs at least one {role} model.")
    for model in listed:
        if not isinstance(model, str) or not model:
            raise ValueError(f"Every {role} model must be a non-empty model id; got {model!r}.")
        if model == ACCEPT:
            raise ValueError(
                f"{ACCEPT!r} names the escalation decision's keep-the-first-answer arm; it "
                f"cannot be a {role} model."
            )
    if len(set(listed)) != len(listed):
        raise ValueError(f"The {role} models of a cascade must be distinct; got {listed}.")


def cascade_reward(rule: RewardRule, quality: float, costs_usd: Iterable[float]) -> float:
    """The reward of a cascade: the kept answer's quality less the cost of every call made.

    The server's join rule with the summed cost, so a cascade and a single call are scored
    on one scale.

    >>> round(cascade_reward(RewardRule(cost_weight=100.0), 1.0, [0.0003, 0.0002, 0.005]), 9)
    0.45
    """
    costs = list(costs_usd)
    if any(not (math.isfinite(c) and c >= 0.0) for c in costs):
        raise ValueError(f"Every call's cost must be a finite number of USD, at least 0; {costs}.")
    joined = join(rule, [Observation("cascade", 0.0, 0, quality, math.fsum(costs), None)])
    assert joined.reward is not None  # a score is always present
    return joined.reward


#: The policy that learns policy ``p``'s escalation decisions is ``p`` + this suffix.
ESCALATION_SUFFIX = ".escalation"


def escalation_policy_name(policy: str) -> str:
    """The name of the policy that learns ``policy``'s escalation decisions.

    >>> escalation_policy_name("support")
    'support.escalation'
    """
    return policy + ESCALATION_SUFFIX
