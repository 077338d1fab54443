"""Conversions between wire schemas and domain values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from api.http import schemas
from api.service.learning import PolicyStatus
from api.service.router import CascadeStep, Escalation
from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.decide import RoutingNotes
from bandit.eligibility import Constraints
from bandit.errors import InvalidInputError
from bandit.health import Cooldown, HealthSettings
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from domain import (
    DecisionRecord,
    ExperimentAssignment,
    FeedbackInput,
    FeedbackRecord,
    ModelEndpoint,
    ModelSpec,
    PolicyConfig,
    PolicyRecord,
)
from features import FeatureError, FeatureSettings
from features.signals import EscalationSignals

_S = TypeVar("_S", bound=msgspec.Struct)
_T = TypeVar("_T")

__all__ = [
    "constraints_in",
    "decision_out",
    "endpoint_in",
    "escalation_in",
    "feedback_in",
    "feedback_out",
    "model_out",
    "model_spec",
    "policy_config",
    "policy_out",
    "route_out",
]


def _ranking(decision: DecisionRecord) -> list[schemas.RankedModel]:
    ranked = sorted(zip(decision.arms, decision.pmf, strict=True), key=lambda pair: -pair[1])
    return [schemas.RankedModel(model=arm.id, probability=p) for arm, p in ranked]


def _assignment(
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
        ranking=_ranking(decision),
        experiment=_assignment(decision.experiment),
        trace_id=decision.trace_id,
        fallbacks=[] if decision.routing is None else list(decision.routing.fallbacks),
        excluded={} if decision.routing is None else dict(decision.routing.excluded),
        fallback_of=decision.fallback_of,
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
                judge_score=_finite("judge_score", signals.judge_score),
                confidence=_finite("confidence", signals.confidence),
                agree=signals.agree,
                answer_chars=signals.answer_chars,
                answer=signals.answer,
                probe_answer=signals.probe_answer,
            ),
            cost_usd=_finite("escalate.cost_usd", body.cost_usd),
        )
    except FeatureError as error:
        raise InvalidInputError(str(error)) from error


def _finite(name: str, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}.")
    return value


def feedback_in(body: schemas.FeedbackIn) -> FeedbackInput:
    if body.score is not None and body.stars is not None:
        raise InvalidInputError("Send either score or stars, not both.")
    score = (body.stars - 1) / 4 if body.stars is not None else _finite("score", body.score)
    if (
        score is None
        and body.cost_usd is None
        and body.latency_ms is None
        and body.error is None
        and body.input_tokens is None
        and body.output_tokens is None
        and not body.fallback
    ):
        raise InvalidInputError(
            "Feedback must carry at least one of score, stars, cost_usd, latency_ms, error, "
            "input_tokens, output_tokens or fallback."
        )
    sent = msgspec.structs.asdict(body)
    del sent["stars"]
    sent.update(
        score=score,
        cost_usd=_finite("cost_usd", body.cost_usd),
        latency_ms=_finite("latency_ms", body.latency_ms),
    )
    return FeedbackInput(**sent)


def feedback_out(record: FeedbackRecord) -> schemas.FeedbackOut:
    return schemas.FeedbackOut(
        **_same_fields(record, schemas.FeedbackOut, but=("feedback_id", "duplicate")),
        feedback_id=record.id,
        duplicate=not record.created,
    )


def _same_fields(value: object, kind: type[msgspec.Struct], but: tuple[str, ...] = ()) -> Any:
    """The attributes of domain ``value`` that wire struct ``kind`` has fields of (except
    ``but``): a field added to both travels without a line here."""
    return {name: getattr(value, name) for name in kind.__struct_fields__ if name not in but}


def _wire(value: object, kind: type[_S]) -> _S:
    """Domain ``value`` as wire struct ``kind``, field by field and nested values too."""
    return msgspec.convert(value, kind, from_attributes=True)


def decision_out(decision: DecisionRecord) -> schemas.DecisionOut:
    reward = decision.reward
    return schemas.DecisionOut(
        decision_id=decision.id,
        policy=decision.policy,
        policy_version=decision.policy_version,
        policy_revision=decision.policy_revision,
        model=decision.chosen_model,
        probability=decision.propensity,
        ranking=_ranking(decision),
        candidates=[arm.id for arm in decision.arms],
        context={ns.name: dict(ns.features) for ns in decision.context.namespaces},
        features=dict(decision.caller_features),
        prompt_hash=decision.prompt_hash,
        prompt=decision.prompt,
        experiment=_assignment(decision.experiment),
        created_at=decision.created_at,
        join_status=decision.join_status,
        window_closes_at=decision.window_closes_at,
        feedback=[feedback_out(f) for f in decision.feedback],
        reward=None if reward is None else _wire(reward, schemas.RewardOut),
        review_probability=decision.review_probability,
        response=decision.response,
        routing=None if decision.routing is None else _routing_out(decision.routing),
        fallback_of=decision.fallback_of,
        escalation_of=decision.escalation_of,
        prior_cost_usd=decision.prior_cost_usd,
    )


def _routing_out(notes: RoutingNotes) -> schemas.RoutingOut:
    return schemas.RoutingOut(
        constraints=msgspec.convert(dict(notes.constraints), schemas.AppliedConstraintsOut),
        excluded=dict(notes.excluded),
        fallbacks=list(notes.fallbacks),
        cooldowns_ignored=notes.cooldowns_ignored,
        tried=list(notes.tried),
    )


def constraints_in(
    max_cost_usd: float | None,
    max_latency_ms: float | None,
    require: Mapping[str, schemas.FeatureValue] | None,
) -> Constraints:
    """Wire limits as a validated value (a non-finite number is a 422 naming it)."""
    return Constraints(
        max_cost_usd=_finite("max_cost_usd", max_cost_usd),
        max_latency_ms=_finite("max_latency_ms", max_latency_ms),
        require=dict(require or {}),
    )


def model_spec(model_id: str, body: schemas.ModelIn) -> ModelSpec:
    for name, value in body.features.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"Model feature {name!r} must be finite, got {value!r}.")
    try:
        return ModelSpec(
            id=model_id,
            input_usd_per_mtok=_finite("input_usd_per_mtok", body.input_usd_per_mtok) or 0.0,
            output_usd_per_mtok=_finite("output_usd_per_mtok", body.output_usd_per_mtok) or 0.0,
            provider=body.provider,
            features=dict(body.features),
            status=body.status,
            endpoint=None if body.endpoint is None else endpoint_in(body.endpoint),
        )
    except ValueError as error:
        raise InvalidInputError(str(error)) from error


def model_out(model: ModelSpec) -> schemas.ModelOut:
    return _wire(model, schemas.ModelOut)


def endpoint_in(body: schemas.EndpointIn) -> ModelEndpoint:
    """The domain endpoint (its constructor's ValueError becomes the caller's 422)."""
    return ModelEndpoint(
        api=body.api, base_url=body.base_url, model=body.model, api_key_env=body.api_key_env
    )


def policy_config(body: schemas.PolicyIn) -> PolicyConfig:
    """Build a validated config; the domain constructors' ValueErrors become 422s.

    Each section is converted on its own, so that a section's error reads as the domain
    type wrote it (msgspec names the path of a nested error)."""
    try:
        return PolicyConfig(
            models=tuple(body.models),
            reward=_domain(body.reward, RewardRule),
            exploration=_domain(body.exploration, ExplorationSettings),
            features=_domain(body.features, FeatureSettings),
            store_prompts=body.store_prompts,
            retention_days=body.retention_days,
            review=_domain(body.review, ReviewSettings),
            constraints=constraints_in(
                body.constraints.max_cost_usd,
                body.constraints.max_latency_ms,
                body.constraints.require,
            ),
            cascade=None if body.cascade is None else _domain(body.cascade, CascadeSpec),
            health=_domain(body.health, HealthSettings),
            budget=None if body.budget is None else _domain(body.budget, Budget),
        )
    except InvalidInputError:
        raise
    except ValueError as error:
        raise InvalidInputError(str(error)) from error


def _domain(body: msgspec.Struct, kind: type[_T]) -> _T:
    """Wire section ``body`` as domain type ``kind``, which validates it."""
    return msgspec.convert(body, kind, from_attributes=True)


def policy_out(
    record: PolicyRecord, status: PolicyStatus, cooldowns: list[Cooldown] | None = None
) -> schemas.PolicyOut:
    config = record.config
    reward = config.reward
    return schemas.PolicyOut(
        name=record.name,
        revision=record.revision,
        version=status.version,
        models=list(config.models),
        reward=_wire(reward, schemas.RewardIn),
        exploration=_wire(config.exploration, schemas.ExplorationIn),
        features=_wire(config.features, schemas.FeaturesIn),
        store_prompts=config.store_prompts,
        retention_days=config.retention_days,
        constraints=_wire(config.constraints, schemas.ConstraintsIn),
        cascade=None if config.cascade is None else _wire(config.cascade, schemas.CascadeIn),
        escalation_for=config.escalation_for,
        created_at=record.created_at,
        updated_at=record.updated_at,
        learner=schemas.LearnerOut(
            learned_interactions=status.learned,
            high_water_mark=status.high_water_mark,
            snapshot_learned_interactions=status.snapshot_learned,
            lag=status.log.lag,
            quarantined=status.log.quarantined,
            last_quarantine_reason=status.log.last_reason,
            last_error=status.last_error,
        ),
        review=_wire(config.review, schemas.ReviewIn),
        health=_wire(config.health, schemas.ModelHealthIn),
        cooldowns=[
            schemas.CooldownOut(model=c.model, since=c.started_at, until=c.until, reason=c.reason)
            for c in cooldowns or ()
        ],
        budget=_budget_out(config, status),
    )


def _budget_out(config: PolicyConfig, status: PolicyStatus) -> schemas.BudgetOut | None:
    budget = config.budget
    if budget is None or config.budget_usd is None:
        return None
    live = status.budget
    return schemas.BudgetOut(
        cost_share=budget.cost_share,
        reference=budget.reference,
        usd_per_request=budget.usd_per_request,
        target_usd_per_request=config.budget_usd,
        cost_weight=None if live is None else live.cost_weight,
        observed_calls=0 if live is None else live.observed,
        mean_spend_usd=None if live is None else live.mean_spend_usd,
    )
