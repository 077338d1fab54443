"""Frozen values that repositories return; the tables themselves never leave ``storage/``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.decide import RoutingNotes
from bandit.eligibility import Constraints
from bandit.endpoint import ModelEndpoint
from bandit.health import HealthSettings
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context
from features import FeatureSettings

__all__ = [
    "MAX_TOKENS",
    "MAX_USD_PER_MTOK",
    "RETENTION_DAYS_RANGE",
    "DecisionRecord",
    "FeatureValue",
    "FeedbackInput",
    "FeedbackRecord",
    "ModelSpec",
    "ModelStatus",
    "PolicyConfig",
    "PolicyRecord",
    "RewardRecord",
]

FeatureValue = str | int | float | bool
ModelStatus = Literal["active", "candidate", "retired"]

#: Bounds of a policy's ``retention_days``: at least a day, at most about ten years.
RETENTION_DAYS_RANGE = (1, 3650)
#: Highest accepted price, USD per million tokens (today's dearest models cost well under 1000):
#: a price of 1e308 overflowed the arm features and made every route of its policies a 500.
MAX_USD_PER_MTOK = 100_000.0
#: Most tokens one call may report, input or output: far beyond any context window.
MAX_TOKENS = 10_000_000


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


@dataclass(frozen=True, slots=True)
class FeedbackInput:
    """One feedback as a caller sent it, already validated by ``api/``."""

    decision_id: str
    source: str
    score: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    idempotency_key: str | None = None
    #: The application retried the request on another model.
    fallback: bool = False
    #: Who scored (a reviewer's name), for agreement between reviewers.
    reviewer: str | None = None
    comment: str | None = None
    #: Tokens the call consumed and produced, as the model's provider counted them.
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    id: str
    decision_id: str
    source: str
    score: float | None
    cost_usd: float | None
    latency_ms: float | None
    error: str | None
    idempotency_key: str | None
    late: bool
    created_at: float
    fallback: bool = False
    #: Whether this call stored the feedback (False: an idempotent retry of an earlier one).
    created: bool = True
    #: Why an operator voided this feedback; a voided feedback is kept but never joined.
    void_reason: str | None = None
    voided_at: float | None = None
    reviewer: str | None = None
    comment: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: The decision's policy and chosen model; set on what ``record_feedback`` returns (so
    #: metrics and the access log can name them), None where feedback is read back.
    policy: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class RewardRecord:
    seq: int
    reward: float
    quality: float | None
    cost_usd: float | None
    latency_ms: float | None
    joined_at: float


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    id: str
    policy: str
    policy_revision: int
    policy_version: int
    learned_count: int
    request_hash: str
    context: Context
    arms: tuple[Arm, ...]
    pmf: tuple[float, ...]
    chosen_index: int
    caller_features: Mapping[str, Any]
    prompt_hash: str | None
    prompt: str | None
    experiment: Mapping[str, Any] | None
    created_at: float
    join_status: str
    window_closes_at: float | None
    feedback: tuple[FeedbackRecord, ...] = ()
    reward: RewardRecord | None = None
    #: Keyed hash of the caller's ``unit_id`` when an experiment assigned this decision by it.
    experiment_unit: str | None = None
    #: The inclusion probability when the decision was sampled for review; None: not sampled.
    review_probability: float | None = None
    #: The model's answer, as the application posted it (only where prompts are stored).
    response: str | None = None
    #: The Langfuse trace this decision names; None when Langfuse was off.
    trace_id: str | None = None
    #: Constraints, exclusions and fallbacks; None for decisions logged before they existed.
    routing: RoutingNotes | None = None
    #: The decision whose model failed, when this one is a fallback attempt for it.
    fallback_of: str | None = None
    #: The cascade's first decision, when this one is its escalation.
    escalation_of: str | None = None
    #: USD spent on the request before this decision; added to its reported cost.
    prior_cost_usd: float | None = None

    @property
    def chosen_model(self) -> str:
        return self.arms[self.chosen_index].id

    @property
    def propensity(self) -> float:
        return self.pmf[self.chosen_index]
