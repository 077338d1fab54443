"""``GET /v1/decisions/{id}``: a decision with its routing notes, feedback and reward."""

from __future__ import annotations

from msgspec import Struct

from api.http.schemas.common import ChatTurnOut, FeatureValue
from api.http.schemas.feedback import FeedbackOut, RewardOut
from api.http.schemas.routing import ExperimentAssignmentOut, RankedModel

__all__ = ["AppliedConstraintsOut", "DecisionOut", "RoutingOut"]


class RoutingOut(Struct):
    """What a decision logged about its routing rules."""

    #: The limits that applied (policy, request and key together); unset ones are absent.
    constraints: AppliedConstraintsOut
    #: Each model left out, with the sentence naming the constraint that excluded it.
    excluded: dict[str, str]
    fallbacks: list[str]
    #: Every eligible model was cooling down, so the cooldowns were not applied.
    cooldowns_ignored: bool
    #: Models already tried for this request (a fallback chain's earlier attempts).
    tried: list[str]


class DecisionOut(Struct):
    decision_id: str
    policy: str
    policy_version: int
    policy_revision: int
    model: str
    probability: float
    ranking: list[RankedModel]
    candidates: list[str]
    context: dict[str, dict[str, float]]
    #: The caller's features.
    features: dict[str, FeatureValue]
    prompt_hash: str | None
    prompt: str | None
    experiment: ExperimentAssignmentOut | None
    created_at: float
    join_status: str
    window_closes_at: float | None
    feedback: list[FeedbackOut]
    reward: RewardOut | None
    #: Inclusion probability when the decision was sampled for review; null: not sampled.
    review_probability: float | None = None
    #: The inclusion probability when the decision is in the judge's sample.
    judge_probability: float | None = None
    #: The model's answer, when the application posted it and the policy stores prompts.
    response: str | None = None
    #: The chat conversation with its roles (proxied requests of policies that store
    #: prompts).
    conversation: list[ChatTurnOut] | None = None
    #: The session's first decision, when this one is a later turn kept on its model.
    continues: str | None = None
    #: Null for decisions logged before routing rules existed.
    routing: RoutingOut | None = None
    fallback_of: str | None = None
    escalation_of: str | None = None
    #: USD spent on the request before this decision, added to its cost in the reward.
    prior_cost_usd: float | None = None


class AppliedConstraintsOut(Struct, omit_defaults=True):
    """The limits a decision was routed under; unset ones are absent."""

    max_cost_usd: float | None = None
    max_latency_ms: float | None = None
    require: dict[str, FeatureValue] | None = None
    #: The models the caller's key may be routed to.
    allowed_models: list[str] | None = None
