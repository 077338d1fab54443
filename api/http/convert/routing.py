"""The route question and answer, and a cascade's escalation question."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from api.http import schemas
from api.http.convert._derive import finite
from api.service.router import CascadeStep, Escalation
from bandit.eligibility import Constraints
from bandit.errors import InvalidInputError
from domain import (
    DecisionRecord,
    ExperimentAssignment,
)
from features import FeatureError
from features.signals import EscalationSignals

__all__ = ["assignment_out", "constraints_in", "escalation_in", "ranking_out", "route_out"]


def ranking_out(decision: DecisionRecord) -> list[schemas.RankedModel]:
    ranked = sorted(zip(decision.arms, decision.pmf, strict=True), key=lambda pair: -pair[1])
    return [schemas.RankedModel(model=arm.id, probability=p) for arm, p in ranked]


def assignment_out(
    experiment: ExperimentAssignment | None,
) -> schemas.ExperimentAssignmentOut | None:
    if experiment is None:
        return None
    return msgspec.convert(experiment, schemas.ExperimentAssignmentOut, from_attributes=True)


def route_out(decision: DecisionRecord, step: CascadeStep | None = None) -> schemas.RouteOut:
    return schemas.RouteOut(
        decision_id=decision.id,
        model=decision.chosen_model,
        probability=decision.propensity,
        policy=decision.policy,
        policy_version=decision.policy_version,
        ranking=ranking_out(decision),
        experiment=assignment_out(decision.experiment),
        trace_id=decision.trace_id,
        fallbacks=[] if decision.routing is None else list(decision.routing.fallbacks),
        excluded={} if decision.routing is None else dict(decision.routing.excluded),
        fallback_of=decision.fallback_of,
        continues=decision.continues,
        cascade=None
        if step is None
        else schemas.CascadeStepOut(
            stage=step.stage,
            escalation_policy=step.escalation_policy,
            probe=step.probe,
            escalation_of=step.escalation_of,
        ),
    )


def escalation_in(body: schemas.EscalateIn) -> Escalation:
    """The wire question as a value; a bad signal is a 422 naming it."""
    signals = body.signals
    try:
        return Escalation(
            of=body.from_,
            signals=EscalationSignals(
                judge_score=finite("judge_score", signals.judge_score),
                confidence=finite("confidence", signals.confidence),
                agree=signals.agree,
                answer_chars=signals.answer_chars,
                answer=signals.answer,
                probe_answer=signals.probe_answer,
            ),
            cost_usd=finite("escalate.cost_usd", body.cost_usd),
        )
    except FeatureError as error:
        raise InvalidInputError(str(error)) from error


def constraints_in(
    max_cost_usd: float | None,
    max_latency_ms: float | None,
    require: Mapping[str, schemas.FeatureValue] | None,
) -> Constraints:
    """Wire limits as a validated value (a non-finite number is a 422 naming it)."""
    return Constraints(
        max_cost_usd=finite("max_cost_usd", max_cost_usd),
        max_latency_ms=finite("max_latency_ms", max_latency_ms),
        require=dict(require or {}),
    )
