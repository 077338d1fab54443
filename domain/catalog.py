"""The catalog: models with their prices, and policies with everything an operator sets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.eligibility import Constraints
from bandit.health import HealthSettings
from bandit.implicit import ImplicitSignals
from bandit.judge import JudgeSettings
from bandit.limits import MAX_USD_PER_MTOK
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from domain.endpoint import ModelEndpoint
from features import FeatureSettings

__all__ = [
    "RETENTION_DAYS_RANGE",
    "FeatureValue",
    "ModelSpec",
    "ModelStatus",
    "PolicyConfig",
    "PolicyRecord",
]

FeatureValue = str | int | float | bool
ModelStatus = Literal["active", "candidate", "retired"]

#: Bounds of a policy's ``retention_days``: at least a day, at most about ten years.
RETENTION_DAYS_RANGE = (1, 3650)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A routable model: prices in USD per million tokens and declared features."""

    id: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    provider: str = ""
    features: Mapping[str, FeatureValue] = field(default_factory=dict)
    status: ModelStatus = "active"
    #: How the proxy calls it; None: the proxy cannot (applications call it themselves).
    endpoint: ModelEndpoint | None = None

    def __post_init__(self) -> None:
        for name in ("input_usd_per_mtok", "output_usd_per_mtok"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= MAX_USD_PER_MTOK):
                raise ValueError(
                    f"{name} of model {self.id!r} must be a number between 0 and "
                    f"{MAX_USD_PER_MTOK:g}, got {value!r}."
                )


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Everything an operator sets on a policy. A change is a new revision.

    ``retention_days``: decisions older than this many days are deleted with their feedback
    and rewards, in the background, once the newest snapshot includes them; None keeps
    everything.
    """

    models: tuple[str, ...]
    reward: RewardRule = field(default_factory=RewardRule)
    exploration: ExplorationSettings = field(default_factory=ExplorationSettings)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    store_prompts: bool = False
    retention_days: int | None = None
    #: Which decisions are sampled for human review (off by default).
    review: ReviewSettings = field(default_factory=ReviewSettings)
    #: Limits every request of the policy meets; a request may only tighten them.
    constraints: Constraints = field(default_factory=Constraints)
    #: Routes start at a cheap model and may escalate (see ``bandit.cascade``).
    cascade: CascadeSpec | None = None
    #: Set on the policy that learns another policy's escalation decisions (its name).
    escalation_for: str | None = None
    #: When a model whose calls fail is cooled down, and for how long.
    health: HealthSettings = field(default_factory=HealthSettings)
    #: A spend target instead of a cost weight; ``budget_usd`` is its value in USD per
    #: request, resolved by the service when the policy is stored (a rebuild must aim where
    #: the live learner aimed), None until then.
    budget: Budget | None = None
    budget_usd: float | None = None
    #: A model that grades a sample of live answers (source ``judge``); None: no judge.
    judge: JudgeSettings | None = None
    #: Signals read from callers' behaviour (a regeneration); off by default.
    implicit: ImplicitSignals = field(default_factory=ImplicitSignals)

    def __post_init__(self) -> None:
        if self.budget is not None:
            if self.reward.cost_weight != 0.0:
                raise ValueError(
                    "A policy states either a budget or a reward cost_weight, not both: the "
                    f"budget sets the cost weight itself (got cost_weight "
                    f"{self.reward.cost_weight!r})."
                )
            if self.exploration.algorithm != "squarecb":
                raise ValueError(
                    "A budget needs the squarecb exploration algorithm, not "
                    f"{self.exploration.algorithm!r}."
                )
        if self.budget_usd is not None and self.budget is None:
            raise ValueError("A budget's value in USD per request needs the budget itself.")
        if self.budget is not None and self.cascade is not None:
            # The escalation policy would need a budget of its own, over both calls' cost:
            # not built yet.
            raise ValueError(
                "A policy with a cascade states a reward cost_weight, not a budget (budgets "
                "for cascades are not supported yet)."
            )
        low, high = RETENTION_DAYS_RANGE
        days = self.retention_days
        if days is not None and (isinstance(days, bool) or not low <= days <= high):
            raise ValueError(
                f"retention_days must be null or a whole number of days from {low} to {high}, "
                f"got {days!r}."
            )
        if self.implicit.enabled and self.reward.default_reward is None:
            raise ValueError(
                "implicit signals need reward.default_reward: a regeneration only ever says "
                "an answer was bad, so the answers not regenerated must be learned too (with "
                "the default reward), or every model is pushed down by its traffic."
            )
        if self.constraints.allowed_models is not None:
            raise ValueError("A policy limits its models with `models`, not allowed_models.")
        if self.cascade is not None:
            cascade = self.cascade
            named = [*cascade.first, *cascade.escalate]
            named += [] if cascade.probe is None else [cascade.probe]
            outside = [m for m in named if m not in self.models]
            if outside:
                raise ValueError(
                    f"The cascade names models that are not models of the policy: {outside}."
                )
            if self.escalation_for is not None:
                raise ValueError("A policy that learns escalations cannot define a cascade.")


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    name: str
    revision: int
    config: PolicyConfig
    created_at: float
    updated_at: float
