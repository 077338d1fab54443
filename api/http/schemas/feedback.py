"""``POST /v1/feedback`` and what it stores; voiding one."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from api.http.schemas.common import CostUsd, LatencyMs, Tokens

__all__ = ["FeedbackIn", "FeedbackOut", "RewardOut", "VoidIn", "VoidOut"]


class FeedbackIn(Struct, forbid_unknown_fields=True):
    decision_id: str
    score: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    #: A 1-5 star rating, mapped to a score (stars - 1) / 4.
    stars: Annotated[int, Meta(ge=1, le=5)] | None = None
    source: Annotated[str, Meta(min_length=1, max_length=64)] = "user"
    cost_usd: CostUsd | None = None
    latency_ms: LatencyMs | None = None
    error: Annotated[str, Meta(max_length=1000)] | None = None
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    #: The application retried this request on another model (counts in the fallback rate).
    fallback: bool = False
    #: Who scored (a reviewer's name or id): reviewers' agreement is measured per decision.
    reviewer: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    comment: Annotated[str, Meta(max_length=2000)] | None = None
    #: Tokens the call consumed and produced, as the provider counted them: the observed
    #: output length estimates what a model will cost.
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None


class FeedbackOut(Struct):
    feedback_id: str
    decision_id: str
    source: str
    score: float | None
    cost_usd: float | None
    latency_ms: float | None
    error: str | None
    idempotency_key: str | None
    late: bool
    created_at: float
    fallback: bool
    #: True when this answer repeats an earlier feedback with the same idempotency key.
    duplicate: bool = False
    #: Set when an operator voided this feedback (``POST /v1/feedback/{id}/void``).
    void_reason: str | None = None
    voided_at: float | None = None
    reviewer: str | None = None
    comment: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: What producing this feedback cost (a judge's own call), never part of the reward.
    grading_cost_usd: float | None = None


class RewardOut(Struct):
    seq: int
    reward: float
    quality: float | None
    cost_usd: float | None
    latency_ms: float | None
    joined_at: float


class VoidIn(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=500)]


class VoidOut(Struct):
    feedback: FeedbackOut
    policy: str
    #: The live version once the void is in force.
    version: int
    #: Whether a learned reward changed and the learner was rebuilt from the log.
    rebuilt: bool
