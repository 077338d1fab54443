"""One pure function assembles a decision: eligibility, the policy's pmf, an experiment's split
and the sampled choice, plus the ordered fallbacks. Services call it and persist what it returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from bandit.eligibility import (
    DEFAULT_OUTPUT_TOKENS,
    Constraints,
    ModelFacts,
    NoEligibleModelError,
    exclusions,
)
from bandit.learner import Learner
from bandit.types import Arm, Context, Pmf

__all__ = ["Candidate", "Overlay", "Routed", "RoutingNotes", "decide", "routing_pmf"]


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model the policy may route to: its arm and what eligibility knows about it."""

    arm: Arm
    facts: ModelFacts


@dataclass(frozen=True, slots=True)
class Overlay:
    """An experiment's split: ``candidate`` takes ``share`` of the traffic; ``on_candidate``
    is this unit's (stable) assignment."""

    candidate: Candidate
    share: float
    on_candidate: bool


@dataclass(frozen=True, slots=True)
class Routed:
    """What ``decide`` chose, with everything the decision log needs.

    ``pmf`` is over ``arms`` (the eligible models, then the experiment's candidate when the
    split applied); ``excluded`` names each model left out and why; ``fallbacks`` are the
    other eligible, healthy incumbents, best first.
    """

    arms: tuple[Arm, ...]
    pmf: Pmf
    chosen: int
    fallbacks: tuple[str, ...]
    excluded: Mapping[str, str] = field(default_factory=dict)
    #: The experiment's split applied (False: no experiment, or its candidate was ineligible).
    split: bool = False
    #: Every eligible model was cooling down, so the cooldowns were not applied.
    cooldowns_ignored: bool = False

    @property
    def model(self) -> str:
        return self.arms[self.chosen].id


@dataclass(frozen=True, slots=True)
class RoutingNotes:
    """What a decision logs about its routing rules: the constraints that applied (only those
    set), each excluded model with the reason, the fallbacks offered, and whether every
    eligible model was cooling down (so cooldowns were ignored)."""

    constraints: Mapping[str, object] = field(default_factory=dict)
    excluded: Mapping[str, str] = field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()
    cooldowns_ignored: bool = False
    #: Models already tried for this request, in order (a fallback chain's earlier attempts).
    tried: tuple[str, ...] = ()
    #: The prompt's estimated tokens, which the cost limit was held against.
    prompt_tokens: float = 0.0


def routing_pmf(share: float, incumbent_pmf: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """The logged propensities while an experiment's candidate holds ``share`` of the traffic.

    The candidate is chosen with probability ``share``; incumbent ``m`` with
    ``(1 - share) * incumbent_pmf[m]``, where ``incumbent_pmf`` is the policy's pmf over the
    incumbents alone. Returns ``(candidate_probability, incumbent_probabilities)``; together
    they sum to 1. (With a stable unit hash the draw for one unit is deterministic, but over
    units these are the probabilities each decision had, which is what estimators need.)

    >>> routing_pmf(0.25, (0.5, 0.5))
    (0.25, (0.375, 0.375))
    """
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise ValueError(f"Traffic share {share!r} must be in [0, 1].")
    if not incumbent_pmf:
        raise ValueError("The incumbent pmf is empty; an experiment needs at least one incumbent.")
    if any(not (math.isfinite(p) and p >= 0.0) for p in incumbent_pmf):
        raise ValueError(
            f"Incumbent pmf {tuple(incumbent_pmf)!r} has a negative or non-finite value."
        )
    total = math.fsum(incumbent_pmf)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"Incumbent pmf {tuple(incumbent_pmf)!r} sums to {total!r}, not 1.")
    return share, tuple((1.0 - share) * p for p in incumbent_pmf)


def decide(
    learner: Learner,
    decision_id: str,
    context: Context,
    candidates: Sequence[Candidate],
    *,
    policy: str,
    constraints: Constraints = NO_CONSTRAINTS,
    prompt_tokens: float = 0.0,
    default_output_tokens: float = DEFAULT_OUTPUT_TOKENS,
    already_tried: Mapping[str, str] | None = None,
    overlay: Overlay | None = None,
    exempt: frozenset[str] = frozenset(),
) -> Routed:
    """Choose among the eligible ``candidates`` with ``learner`` and an optional experiment.

    Models in ``already_tried`` (id -> reason: a fallback chain's earlier attempts) and those
    the constraints exclude are left out; so are models cooling down after failures, unless
    every eligible model is, when routing somewhere beats refusing every request. With nothing
    left: ``NoEligibleModelError`` naming every model's exclusion. No constraint applies to the
    arms in ``exempt`` (a cascade's ``accept``, which makes no call).
    """
    facts = [c.facts for c in candidates]
    excluded = dict(already_tried or {})
    excluded.update(
        exclusions(
            [f for f in facts if f.id not in excluded and f.id not in exempt],
            constraints,
            prompt_tokens=prompt_tokens,
            default_output_tokens=default_output_tokens,
        )
    )
    eligible = [c for c in candidates if c.facts.id not in excluded]
    healthy = [c for c in eligible if c.facts.cooldown is None]
    cooldowns_ignored = bool(eligible) and not healthy
    if not cooldowns_ignored:
        excluded.update({c.facts.id: c.facts.cooldown for c in eligible if c.facts.cooldown})
        eligible = healthy
    if not eligible:
        raise NoEligibleModelError(policy, excluded)
    arms = tuple(c.arm for c in eligible)
    decision = learner.decide(decision_id, context, arms)
    # Fallbacks by the policy's predicted reward for this request where it gives one, else by
    # its pmf (for SquareCB the pmf decreases strictly with the predicted reward gap), ties in
    # catalog order; the chosen model is not one, and neither is an experiment's candidate,
    # which only its split may route to.
    preference = _preference(learner, context, arms, decision.pmf)
    order = sorted(range(len(arms)), key=lambda i: -preference[i])
    fallbacks = tuple(arms[i].id for i in order if i != decision.chosen)
    pmf, chosen, split = decision.pmf, decision.chosen, False
    if overlay is not None:
        candidate = overlay.candidate
        reason = exclusions(
            [candidate.facts],
            constraints,
            prompt_tokens=prompt_tokens,
            default_output_tokens=default_output_tokens,
        ).get(candidate.facts.id) or (None if cooldowns_ignored else candidate.facts.cooldown)
        if reason is not None:
            excluded[candidate.facts.id] = reason
        else:
            candidate_p, incumbent_p = routing_pmf(overlay.share, decision.pmf)
            arms = (*arms, candidate.arm)
            pmf = (*incumbent_p, candidate_p)
            chosen = len(arms) - 1 if overlay.on_candidate else decision.chosen
            split = True
            if overlay.on_candidate:
                fallbacks = tuple(arms[i].id for i in order)
    return Routed(
        arms=arms,
        pmf=pmf,
        chosen=chosen,
        fallbacks=fallbacks,
        excluded=excluded,
        split=split,
        cooldowns_ignored=cooldowns_ignored,
    )


class _Scoring(Protocol):
    def scores(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]: ...


def _preference(
    learner: Learner, context: Context, arms: tuple[Arm, ...], pmf: Pmf
) -> Sequence[float]:
    """Predicted rewards when the policy exposes them (``scores``), else the pmf."""
    # Not ``isinstance`` against a runtime-checkable protocol: that walks the protocol's
    # members on every call, 2% of a route's CPU.
    scores = getattr(learner.policy, "scores", None)
    if callable(scores):
        return cast(_Scoring, learner.policy).scores(context, arms)
    return pmf
