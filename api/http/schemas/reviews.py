"""The review queue, posted answers and the reviews report."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from api.http.schemas.common import ChatTurnOut, FeatureValue

__all__ = [
    "MAX_RESPONSE_CHARS",
    "ResponseIn",
    "ResponseOut",
    "ReviewAgreementOut",
    "ReviewItemOut",
    "ReviewQualityOut",
    "ReviewQueueOut",
    "ReviewsOut",
]

#: Bound on a posted answer: review material, not a transcript.
MAX_RESPONSE_CHARS = 100_000


class ResponseIn(Struct, forbid_unknown_fields=True):
    """The model's answer to a routed request, for reviewers to read beside its prompt."""

    text: Annotated[str, Meta(min_length=1, max_length=MAX_RESPONSE_CHARS)]


class ResponseOut(Struct):
    decision_id: str
    #: Characters stored.
    length: int
    stored_at: float


class ReviewItemOut(Struct):
    """A decision sampled for review: prompt and answer where the policy stores them,
    otherwise what the router saw (the caller's features)."""

    decision_id: str
    policy: str
    model: str
    #: The decision's inclusion probability in the review sample.
    review_probability: float
    created_at: float
    candidates: list[str]
    #: The caller's features.
    features: dict[str, FeatureValue]
    prompt: str | None
    response: str | None
    #: Reviewer scores the decision already has (from other reviewers).
    reviews: int
    #: The chat conversation with its roles (proxied requests); null otherwise.
    conversation: list[ChatTurnOut] | None = None


class ReviewQueueOut(Struct):
    policy: str
    #: Oldest first.
    items: list[ReviewItemOut]


class ReviewQualityOut(Struct):
    """Mean reviewer score: of the reviewed decisions (``naive_mean``), and the estimate for
    every decision, each review weighted by 1/its inclusion probability (Hajek)."""

    reviewed_decisions: int
    naive_mean: float
    estimate: float


class ReviewAgreementOut(Struct):
    """Krippendorff's alpha (interval metric) between named reviewers, over the decisions two
    or more of them scored; null with fewer than two such decisions."""

    alpha: float | None
    decisions: int
    reviewers: int


class ReviewsOut(Struct):
    reviewed_decisions: int
    #: The whole policy; null without reviews.
    quality: ReviewQualityOut | None
    models: dict[str, ReviewQualityOut]
    agreement: ReviewAgreementOut
    #: The policy's judge against the reviewers (their mean score) on the decisions both
    #: scored; alpha null with fewer than two such decisions.
    judge_agreement: ReviewAgreementOut | None = None
