"""Drift and KPI reports."""

from __future__ import annotations

from msgspec import Struct

from bandit.flags import FlagKind

__all__ = [
    "DriftBucketOut",
    "DriftFlagOut",
    "DriftModelOut",
    "DriftOut",
    "FeatureShiftOut",
    "KpisOut",
    "PmfChangeOut",
    "VersionStepOut",
]


class DriftModelOut(Struct):
    model: str
    decisions: int
    mean_reward: float | None
    mean_quality: float | None
    mean_cost_usd: float | None
    p95_latency_ms: float | None
    cost_per_success_usd: float | None
    fallback_rate: float


class FeatureShiftOut(Struct):
    feature: str
    #: Share of decisions with the feature in the first bucket.
    reference_rate: float
    rate: float
    #: Population stability index against the first bucket.
    psi: float
    flagged: bool


class DriftBucketOut(Struct):
    start: float
    end: float
    decisions: int
    #: Share of decisions per chosen model; sums to 1.
    shares: dict[str, float]
    mean_reward: float | None
    models: list[DriftModelOut]
    feedback_rate: float
    median_feedback_delay_seconds: float | None
    min_policy_version: int
    max_policy_version: int
    feature_shift: list[FeatureShiftOut]


class KpisOut(Struct):
    decisions: int
    cost_per_success_usd: float | None
    p95_latency_ms: float | None
    #: Share of decisions per chosen model.
    utilization: dict[str, float]
    #: Mean quality in the last bucket minus the first (null without quality in both).
    quality_drift: float | None
    fallback_rate: float


class DriftFlagOut(Struct):
    kind: FlagKind
    bucket_start: float
    #: The model (reward drop), the model and its task (quality drop) or the feature.
    subject: str
    message: str


class VersionStepOut(Struct):
    from_learned_count: int
    to_learned_count: int
    mean_total_variation: float


class PmfChangeOut(Struct):
    revision: int
    probes: int
    #: ``learned_count`` of each snapshot compared, oldest first.
    snapshots: list[int]
    steps: list[VersionStepOut]
    mean_total_variation: float | None


class DriftOut(Struct):
    policy: str
    since: float | None
    until: float | None
    bucket_seconds: float
    success_threshold: float
    psi_threshold: float
    group_by: str | None
    decisions: int
    max_decisions: int
    #: More than ``max_decisions`` decisions matched; the oldest were read.
    truncated: bool
    buckets: list[DriftBucketOut]
    kpis: KpisOut
    #: KPIs per value of the caller feature ``group_by``.
    groups: dict[str, KpisOut]
    flags: list[DriftFlagOut]
    pmf_change: PmfChangeOut
