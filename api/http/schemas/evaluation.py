"""Off-policy evaluation."""

from __future__ import annotations

from msgspec import Struct

from api.http.schemas.reviews import ReviewsOut

__all__ = ["EstimateOut", "EvaluationOut", "TargetOut"]


class EstimateOut(Struct):
    value: float
    #: The bootstrap interval; null when no resample defines the estimate (a small or
    #: one-sided log: every resample left out the rows the target weighs).
    lower: float | None
    upper: float | None
    effective_sample_size: float


class TargetOut(Struct):
    name: str
    decisions: int
    #: By method: ``ips``, ``snips``, ``doubly_robust``.
    reward: dict[str, EstimateOut]
    quality: float | None
    cost_usd: float | None


class EvaluationOut(Struct):
    policy: str
    decisions: int
    observed_mean_reward: float
    pays_off: bool | None
    verdict: str
    targets: list[TargetOut]
    #: Reviewer-scored quality of the decisions sampled for review, and reviewer agreement.
    reviews: ReviewsOut
