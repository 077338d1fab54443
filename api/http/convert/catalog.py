"""Models and policies: the operator's input validated into the domain, and read back."""

from __future__ import annotations

import math

from api.http import schemas
from api.http.convert._derive import finite, to_domain, to_wire
from api.http.convert.routing import constraints_in
from api.service.judging import QualitySignal
from api.service.learners import PolicyStatus
from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.errors import InvalidInputError
from bandit.health import Cooldown, HealthSettings
from bandit.implicit import ImplicitSignals
from bandit.judge import JudgeSettings
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from domain import (
    ModelEndpoint,
    ModelSpec,
    PolicyConfig,
    PolicyRecord,
)
from features import FeatureSettings

__all__ = ["endpoint_in", "model_out", "model_spec", "policy_config", "policy_out"]


def model_spec(model_id: str, body: schemas.ModelIn) -> ModelSpec:
    for name, value in body.features.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"Model feature {name!r} must be finite, got {value!r}.")
    try:
        return ModelSpec(
            id=model_id,
            input_usd_per_mtok=finite("input_usd_per_mtok", body.input_usd_per_mtok) or 0.0,
            output_usd_per_mtok=finite("output_usd_per_mtok", body.output_usd_per_mtok) or 0.0,
            provider=body.provider,
            features=dict(body.features),
            status=body.status,
            endpoint=None if body.endpoint is None else endpoint_in(body.endpoint),
        )
    except ValueError as error:
        raise InvalidInputError(str(error)) from error


def model_out(model: ModelSpec) -> schemas.ModelOut:
    return to_wire(model, schemas.ModelOut)


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
            reward=to_domain(body.reward, RewardRule),
            exploration=to_domain(body.exploration, ExplorationSettings),
            features=to_domain(body.features, FeatureSettings),
            store_prompts=body.store_prompts,
            retention_days=body.retention_days,
            review=to_domain(body.review, ReviewSettings),
            constraints=constraints_in(
                body.constraints.max_cost_usd,
                body.constraints.max_latency_ms,
                body.constraints.require,
            ),
            cascade=None if body.cascade is None else to_domain(body.cascade, CascadeSpec),
            health=to_domain(body.health, HealthSettings),
            budget=None if body.budget is None else to_domain(body.budget, Budget),
            judge=None if body.judge is None else to_domain(body.judge, JudgeSettings),
            implicit=to_domain(body.implicit, ImplicitSignals),
        )
    except InvalidInputError:
        raise
    except ValueError as error:
        raise InvalidInputError(str(error)) from error


def policy_out(
    record: PolicyRecord,
    status: PolicyStatus,
    cooldowns: list[Cooldown] | None = None,
    quality: QualitySignal | None = None,
) -> schemas.PolicyOut:
    config = record.config
    reward = config.reward
    return schemas.PolicyOut(
        name=record.name,
        revision=record.revision,
        version=status.version,
        models=list(config.models),
        reward=to_wire(reward, schemas.RewardIn),
        exploration=to_wire(config.exploration, schemas.ExplorationIn),
        features=to_wire(config.features, schemas.FeaturesIn),
        store_prompts=config.store_prompts,
        retention_days=config.retention_days,
        constraints=to_wire(config.constraints, schemas.ConstraintsIn),
        cascade=None if config.cascade is None else to_wire(config.cascade, schemas.CascadeIn),
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
        review=to_wire(config.review, schemas.ReviewIn),
        health=to_wire(config.health, schemas.ModelHealthIn),
        cooldowns=[
            schemas.CooldownOut(model=c.model, since=c.started_at, until=c.until, reason=c.reason)
            for c in cooldowns or ()
        ],
        budget=_budget_out(config, status),
        judge=None if config.judge is None else to_wire(config.judge, schemas.JudgeIn),
        implicit=to_wire(config.implicit, schemas.ImplicitIn),
        quality_signal=None if quality is None else _quality_out(quality),
        warnings=policy_warnings(config),
    )


def policy_warnings(config: PolicyConfig) -> list[str]:
    """Settings that work but probably do not do what was meant."""
    warnings: list[str] = []
    judge = config.judge
    if judge is not None and judge.model in config.models:
        warnings.append(
            f"The judge {judge.model!r} is also one of the policy's models: judges tend to "
            "prefer their own answers, so its grades may favour it. A judge outside the "
            "policy's models is fairer."
        )
    return warnings


def _quality_out(quality: QualitySignal) -> schemas.QualitySignalOut:
    activity = quality.judge
    return schemas.QualitySignalOut(
        decisions_last_hour=quality.decisions,
        without_quality_last_hour=quality.without_quality,
        warning=quality.warning,
        judge=None
        if activity is None
        else schemas.JudgeActivityOut(
            graded=activity.graded,
            failed=activity.failed,
            shed=activity.shed,
            over_cap=activity.over_cap,
            spend_usd=activity.spend_usd,
            spend_usd_last_hour=quality.judge_spend_usd_last_hour or 0.0,
        ),
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
