"""``POST /v1/route``: the question, a cascade's escalation, and the decision answered."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from api.http.schemas.common import (
    AnswerText,
    CostUsd,
    Features,
    Identifier,
    MaxCostUsd,
    MaxLatencyMs,
    Require,
    Unit,
)
from bandit.limits import MAX_ANSWER_LENGTH

__all__ = [
    "CascadeStepOut",
    "EscalateIn",
    "ExperimentAssignmentOut",
    "RankedModel",
    "RouteIn",
    "RouteOut",
    "SignalsIn",
]


class SignalsIn(Struct, forbid_unknown_fields=True):
    """What the application knows about the first answer; every field is optional. The
    answer texts are turned into features and never stored (unless the policy stores
    prompts)."""

    #: A judge's score of the first answer.
    judge_score: Unit | None = None
    #: The first model's own confidence.
    confidence: Unit | None = None
    #: Whether two cheap answers agree (the router decides it from both texts if left out).
    agree: bool | None = None
    #: The first answer's length in characters (taken from ``answer`` when only it is sent).
    answer_chars: Annotated[int, Meta(ge=0, le=MAX_ANSWER_LENGTH)] | None = None
    answer: AnswerText | None = None
    #: The probe model's answer to the same prompt, when the cascade has a probe.
    probe_answer: AnswerText | None = None


class EscalateIn(Struct, forbid_unknown_fields=True):
    """Ask a cascade's escalation question about a first-stage decision."""

    from_: Identifier = msgspec.field(name="from")
    signals: SignalsIn = msgspec.field(default_factory=SignalsIn)
    #: USD already spent on the request (the first call and the probe's). Omitted: the cost
    #: reported so far in feedback on the first decision.
    cost_usd: CostUsd | None = None


class CascadeStepOut(Struct):
    """Where a routed request stands in its policy's cascade."""

    stage: Literal["first", "escalation"]
    #: The policy that learns the escalation decisions.
    escalation_policy: str
    #: The model to ask beside the first (first stage only).
    probe: str | None = None
    #: The first-stage decision this escalation is about (escalation only).
    escalation_of: str | None = None


class RouteIn(Struct, forbid_unknown_fields=True):
    policy: str = "default"
    prompt: str | None = None
    features: Features | None = None
    candidates: list[str] | None = None
    decision_id: Identifier | None = None
    unit_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    max_cost_usd: MaxCostUsd | None = None
    max_latency_ms: MaxLatencyMs | None = None
    require: Require | None = None
    #: This request retries decision ``fallback_of``, whose model failed: the router chooses
    #: among the models not yet tried, and the new decision is learned and counted on its own.
    fallback_of: Identifier | None = None
    #: Ask the policy's cascade whether to keep a first answer or escalate: the answer's
    #: ``model`` is ``"accept"`` or a stronger model.
    escalate: EscalateIn | None = None
    #: A conversation's id: its later turns get the model of its first turn (until that model
    #: fails and a fallback takes over), logged as continuations of the first decision.
    session_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None


class RankedModel(Struct):
    model: str
    probability: float


class RouteOut(Struct):
    decision_id: str
    model: str
    probability: float
    policy: str
    policy_version: int
    ranking: list[RankedModel]
    experiment: ExperimentAssignmentOut | None = None
    #: The Langfuse trace this decision names (null when Langfuse is off): write the
    #: application's own generation into it.
    trace_id: str | None = None
    #: The other eligible, healthy models, best first: where to go when ``model`` fails
    #: (send the retry as a route with ``fallback_of`` so it is learned).
    fallbacks: list[str] = msgspec.field(default_factory=list)
    #: Models of the policy that were not eligible for this request, and why.
    excluded: dict[str, str] = msgspec.field(default_factory=dict)
    fallback_of: str | None = None
    #: Null unless the policy defines a cascade.
    cascade: CascadeStepOut | None = None
    #: The session's first decision, when this is a later turn kept on its model (probability
    #: 1, not learned; feedback sent to this decision reaches that one).
    continues: str | None = None


class ExperimentAssignmentOut(Struct):
    """The experiment arm a decision was assigned to."""

    id: str
    arm: Literal["candidate", "control"]
    #: The candidate's share of traffic at the decision's stage.
    share: float
    #: Index of the stage (into the experiment's ``stages``).
    stage: int
