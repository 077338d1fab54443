"""``/v1/experiments``: specs, state, reports and transitions."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from api.http.schemas.common import Positive
from bandit.limits import DEFAULT_STAGES

__all__ = [
    "ArmOut",
    "ArmsOut",
    "EvidenceOut",
    "ExperimentIn",
    "ExperimentOut",
    "ExperimentReportOut",
    "ExperimentTransitionOut",
    "ExperimentVerdictOut",
    "GuardrailCheckOut",
    "GuardrailsIn",
    "GuardrailsOut",
    "StageCountsOut",
]


class GuardrailsIn(Struct, forbid_unknown_fields=True):
    max_quality_drop: Positive | None = None
    max_cost_ratio: Positive | None = None
    max_latency_p95_ratio: Positive | None = None
    max_error_rate_increase: Positive | None = None


class ExperimentIn(Struct, forbid_unknown_fields=True):
    policy: str
    candidate: str
    stages: list[float] = msgspec.field(default_factory=lambda: list(DEFAULT_STAGES))
    min_feedback_per_stage: Annotated[int, Meta(ge=1)] = 200
    margin: Positive = 0.02
    alpha: Annotated[float, Meta(gt=0.0, lt=0.5)] = 0.05
    mode: Literal["add", "replace"] = "add"
    replaces: str | None = None
    guardrails: GuardrailsIn = msgspec.field(default_factory=GuardrailsIn)


class GuardrailsOut(Struct):
    max_quality_drop: float | None
    max_cost_ratio: float | None
    max_latency_p95_ratio: float | None
    max_error_rate_increase: float | None


class ExperimentOut(Struct):
    """An experiment's spec and where it stands."""

    id: str
    #: ``running``, ``paused``, ``completed`` or ``rolled_back``.
    status: str
    #: Index of the current stage into ``stages``.
    stage: int
    #: The candidate's share of traffic now.
    share: float
    created_at: float
    updated_at: float
    policy: str
    candidate: str
    stages: list[float]
    min_feedback_per_stage: int
    margin: float
    alpha: float
    mode: Literal["add", "replace"]
    replaces: str | None
    guardrails: GuardrailsOut


class ArmOut(Struct):
    """One arm's cumulative statistics (null until it has the data)."""

    feedback: int
    mean_reward: float | None
    mean_quality: float | None
    mean_cost_usd: float | None
    error_rate: float | None
    latency_p95_ms: float | None


class ArmsOut(Struct):
    candidate: ArmOut
    control: ArmOut


class StageCountsOut(Struct):
    """Units routed and feedback per arm since the current stage began."""

    units_candidate: int
    units_control: int
    feedback_candidate: int
    feedback_control: int


class GuardrailCheckOut(Struct):
    name: Literal["quality_drop", "cost_ratio", "latency_p95_ratio", "error_rate_increase"]
    limit: float | None
    estimate: float | None
    bound: float | None
    status: Literal["ok", "insufficient", "suspect", "breached"]


class EvidenceOut(Struct):
    """What a verdict rests on (non-finite numbers are null). Counts and means are
    cumulative; ``stage`` holds the current stage's counts; the reward fields describe the
    always-valid sequence for candidate minus control (null before the burn-in)."""

    stage_index: int
    share: float
    candidate_feedback: int
    control_feedback: int
    stage: StageCountsOut
    candidate_mean_reward: float | None
    control_mean_reward: float | None
    difference: float | None
    lower: float | None
    upper: float | None
    e_value: float | None
    p_value: float | None
    alpha: float
    margin: float
    srm_p_value: float | None
    guardrails: list[GuardrailCheckOut]


class ExperimentVerdictOut(Struct):
    action: Literal["continue", "next_stage", "complete", "rollback", "pause"]
    reason: str
    evidence: EvidenceOut


class ExperimentTransitionOut(Struct):
    action: str
    from_status: str
    to_status: str
    from_stage: int
    to_stage: int
    reason: str
    manual: bool
    #: The evidence stored with the transition (null for the start and bare manual acts).
    evidence: EvidenceOut | None
    at: float


class ExperimentReportOut(ExperimentOut):
    """An experiment with its statistics, the latest evaluation and its history."""

    arms: ArmsOut
    stage_counts: StageCountsOut
    last_evaluation: ExperimentVerdictOut | None
    history: list[ExperimentTransitionOut]
