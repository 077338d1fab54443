"""JSON forms of domain values, as stored in JSON columns. Pure and lossless."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import msgspec

from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.decide import RoutingNotes
from bandit.eligibility import Constraints
from bandit.health import HealthSettings
from bandit.review import Design, ReviewSettings
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    MAX_COST_WEIGHT,
    MAX_LATENCY_WEIGHT,
    MAX_REWARD_MAGNITUDE,
    MAX_SOURCE_WEIGHT,
    MAX_WAIT_SECONDS,
    Aggregation,
    RewardRule,
    SourceRule,
)
from bandit.settings import MAX_BITS, MIN_BITS, Algorithm, ExplorationSettings
from bandit.types import Arm, Context, Namespace
from domain import ModelEndpoint, PolicyConfig
from experiments import ExperimentSpec, Guardrails, Mode
from features import FeatureSettings

__all__ = [
    "arms_from_json",
    "arms_to_json",
    "config_from_json",
    "config_to_json",
    "constraints_from_json",
    "constraints_to_json",
    "context_from_json",
    "context_to_json",
    "endpoint_from_json",
    "endpoint_to_json",
    "from_stored",
    "routing_from_json",
    "routing_to_json",
    "spec_from_json",
    "spec_to_json",
    "to_stored",
]

_T = TypeVar("_T")


def to_stored(value: object) -> Any:
    """A domain value (frozen dataclasses, tuples, mappings, literals) as JSON-ready data,
    derived from its fields: a field added to the type is stored without touching this."""
    return msgspec.to_builtins(value)


def from_stored(data: object, kind: type[_T]) -> _T:
    """``data`` read back as ``kind``, checked against its field types (a stored value that
    no longer fits is an error here, not later)."""
    return msgspec.convert(data, kind)


def endpoint_to_json(endpoint: ModelEndpoint | None) -> dict[str, Any] | None:
    if endpoint is None:
        return None
    return {
        "api": endpoint.api,
        "base_url": endpoint.base_url,
        "model": endpoint.model,
        "api_key_env": endpoint.api_key_env,
    }


def endpoint_from_json(data: dict[str, Any] | None) -> ModelEndpoint | None:
    if data is None:
        return None
    return ModelEndpoint(
        api=data["api"],
        base_url=data["base_url"],
        model=data["model"],
        api_key_env=data.get("api_key_env"),
    )


def _namespaces_to_json(namespaces: tuple[Namespace, ...]) -> list[Any]:
    # The feature pairs stay tuples: the JSON encoder writes them as arrays all the same, and
    # copying each pair into a list was a tenth of a route's CPU.
    return [[ns.name, ns.features] for ns in namespaces]


def _namespaces_from_json(data: list[Any]) -> tuple[Namespace, ...]:
    return tuple(
        Namespace(str(name), tuple((str(f), float(v)) for f, v in features))
        for name, features in data
    )


def context_to_json(context: Context) -> list[Any]:
    return _namespaces_to_json(context.namespaces)


def context_from_json(data: list[Any]) -> Context:
    return Context(_namespaces_from_json(data))


def arms_to_json(arms: tuple[Arm, ...]) -> list[Any]:
    return [{"id": arm.id, "namespaces": _namespaces_to_json(arm.namespaces)} for arm in arms]


def arms_from_json(data: list[Any]) -> tuple[Arm, ...]:
    return tuple(Arm(str(a["id"]), _namespaces_from_json(a["namespaces"])) for a in data)


def config_to_json(config: PolicyConfig) -> dict[str, Any]:
    reward = config.reward
    exploration = config.exploration
    return {
        "models": list(config.models),
        "reward": {
            "wait_seconds": reward.wait_seconds,
            "cost_weight": reward.cost_weight,
            "latency_weight": reward.latency_weight,
            "default_reward": reward.default_reward,
            "error_reward": reward.error_reward,
            "reward_range": list(reward.reward_range),
            "sources": {
                name: {"weight": rule.weight, "aggregation": rule.aggregation}
                for name, rule in sorted(reward.sources.items())
            },
        },
        "exploration": {
            "algorithm": exploration.algorithm,
            "epsilon": exploration.epsilon,
            "gamma_scale": exploration.gamma_scale,
            "gamma_exponent": exploration.gamma_exponent,
            "min_probability": exploration.min_probability,
            "learning_rate": exploration.learning_rate,
            "learning_rate_decay": exploration.learning_rate_decay,
            "bits": exploration.bits,
            "seed": exploration.seed,
        },
        "features": {
            "text": config.features.text,
            "words": config.features.words,
            "embedding": config.features.embedding,
        },
        "store_prompts": config.store_prompts,
        "retention_days": config.retention_days,
        "constraints": constraints_to_json(config.constraints),
        "cascade": None
        if config.cascade is None
        else {
            "first": list(config.cascade.first),
            "escalate": list(config.cascade.escalate),
            "probe": config.cascade.probe,
            **({} if config.cascade.judge is None else {"judge": config.cascade.judge}),
        },
        "escalation_for": config.escalation_for,
        "review": {
            "rate": config.review.rate,
            "design": config.review.design,
            "per_model": dict(sorted(config.review.per_model.items())),
        },
        "health": {
            "window_seconds": config.health.window_seconds,
            "min_calls": config.health.min_calls,
            "max_error_rate": config.health.max_error_rate,
            "cooldown_seconds": config.health.cooldown_seconds,
        },
        "budget": None
        if config.budget is None
        else {
            "cost_share": config.budget.cost_share,
            "reference": config.budget.reference,
            "usd_per_request": config.budget.usd_per_request,
            "resolved_usd_per_request": config.budget_usd,
        },
    }


def config_from_json(data: dict[str, Any]) -> PolicyConfig:
    """The stored config as a value. Configs stored before the input bounds existed may hold
    values beyond them: they are read at the nearest bound, so that an old policy still loads
    (start-up never fails on one)."""
    reward = data["reward"]
    exploration = data["exploration"]
    default_reward = reward["default_reward"]
    return PolicyConfig(
        models=tuple(data["models"]),
        reward=RewardRule(
            sources={
                str(name): SourceRule(
                    weight=_within(float(rule["weight"]), 0.0, MAX_SOURCE_WEIGHT),
                    aggregation=cast(Aggregation, rule["aggregation"]),
                )
                for name, rule in reward["sources"].items()
            },
            cost_weight=_within(float(reward["cost_weight"]), 0.0, MAX_COST_WEIGHT),
            latency_weight=_within(float(reward["latency_weight"]), 0.0, MAX_LATENCY_WEIGHT),
            default_reward=None
            if default_reward is None
            else _within(float(default_reward), -MAX_REWARD_MAGNITUDE, MAX_REWARD_MAGNITUDE),
            wait_seconds=_within(float(reward["wait_seconds"]), 0.0, MAX_WAIT_SECONDS),
            reward_range=_reward_range(reward),
            # Configs stored before the setting existed: an error then counted as no feedback;
            # they take the documented default now.
            error_reward=float(reward.get("error_reward", 0.0)),
        ),
        exploration=ExplorationSettings(
            algorithm=cast(Algorithm, exploration["algorithm"]),
            epsilon=float(exploration["epsilon"]),
            gamma_scale=float(exploration["gamma_scale"]),
            gamma_exponent=float(exploration["gamma_exponent"]),
            min_probability=float(exploration["min_probability"]),
            learning_rate=float(exploration["learning_rate"]),
            # Configs stored before the setting existed used VW's default.
            learning_rate_decay=float(exploration.get("learning_rate_decay", 0.5)),
            bits=int(_within(int(exploration["bits"]), MIN_BITS, MAX_BITS)),
            seed=int(exploration["seed"]),
        ),
        features=FeatureSettings(**data["features"]),
        store_prompts=bool(data["store_prompts"]),
        # Configs stored before the setting existed kept everything.
        retention_days=data.get("retention_days"),
        # Configs stored before the setting existed sampled nothing for review.
        review=_review(data.get("review")),
        # Configs stored before routing rules existed constrained nothing.
        constraints=constraints_from_json(data.get("constraints") or {}),
        # Configs stored before cascades existed had none.
        cascade=_cascade(data.get("cascade")),
        escalation_for=data.get("escalation_for"),
        # Configs stored before the setting existed take the default health rule.
        health=_health(data.get("health")),
        # ... and had no budget.
        budget=_budget(data.get("budget")),
        budget_usd=None
        if data.get("budget") is None
        else float(data["budget"]["resolved_usd_per_request"]),
    )


def _budget(data: dict[str, Any] | None) -> Budget | None:
    if data is None:
        return None
    return Budget(
        cost_share=data["cost_share"],
        reference=data["reference"],
        usd_per_request=data["usd_per_request"],
    )


def _cascade(data: dict[str, Any] | None) -> CascadeSpec | None:
    if data is None:
        return None
    return CascadeSpec(
        first=tuple(data["first"]),
        escalate=tuple(data["escalate"]),
        probe=data.get("probe"),
        judge=data.get("judge"),
    )


def constraints_to_json(constraints: Constraints) -> dict[str, Any]:
    return constraints.as_dict()


def constraints_from_json(data: dict[str, Any]) -> Constraints:
    allowed = data.get("allowed_models")
    return Constraints(
        max_cost_usd=data.get("max_cost_usd"),
        max_latency_ms=data.get("max_latency_ms"),
        require=dict(data.get("require") or {}),
        allowed_models=None if allowed is None else frozenset(allowed),
    )


def routing_to_json(notes: RoutingNotes) -> dict[str, Any]:
    return {
        "constraints": dict(notes.constraints),
        "excluded": dict(sorted(notes.excluded.items())),
        "fallbacks": list(notes.fallbacks),
        "cooldowns_ignored": notes.cooldowns_ignored,
        "tried": list(notes.tried),
        "prompt_tokens": notes.prompt_tokens,
    }


def routing_from_json(data: dict[str, Any]) -> RoutingNotes:
    return RoutingNotes(
        constraints=dict(data.get("constraints") or {}),
        excluded={str(k): str(v) for k, v in (data.get("excluded") or {}).items()},
        fallbacks=tuple(str(m) for m in data.get("fallbacks") or ()),
        cooldowns_ignored=bool(data.get("cooldowns_ignored", False)),
        tried=tuple(str(m) for m in data.get("tried") or ()),
        prompt_tokens=float(data.get("prompt_tokens") or 0.0),
    )


def _review(data: dict[str, Any] | None) -> ReviewSettings:
    if data is None:
        return ReviewSettings()
    return ReviewSettings(
        rate=float(data["rate"]),
        design=cast(Design, data["design"]),
        per_model={str(m): float(r) for m, r in data["per_model"].items()},
    )


def _health(data: dict[str, Any] | None) -> HealthSettings:
    if data is None:
        return HealthSettings()
    return HealthSettings(
        window_seconds=float(data["window_seconds"]),
        min_calls=int(data["min_calls"]),
        max_error_rate=float(data["max_error_rate"]),
        cooldown_seconds=float(data["cooldown_seconds"]),
    )


def _within(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _reward_range(reward: dict[str, Any]) -> tuple[float, float]:
    stored = reward.get("reward_range")
    if stored is not None:
        return float(stored[0]), float(stored[1])
    # Configs stored before the setting existed: the default, widened to hold their
    # default_reward, so that an old policy still loads.
    low, high = DEFAULT_REWARD_RANGE
    default = reward["default_reward"]
    if default is None:
        return low, high
    default = _within(float(default), -MAX_REWARD_MAGNITUDE, MAX_REWARD_MAGNITUDE)
    return min(low, default), max(high, default)


def spec_to_json(spec: ExperimentSpec) -> dict[str, Any]:
    guardrails = spec.guardrails
    return {
        "policy": spec.policy,
        "candidate": spec.candidate,
        "stages": list(spec.stages),
        "min_feedback_per_stage": spec.min_feedback_per_stage,
        "margin": spec.margin,
        "alpha": spec.alpha,
        "mode": spec.mode,
        "replaces": spec.replaces,
        "guardrails": {
            "max_quality_drop": guardrails.max_quality_drop,
            "max_cost_ratio": guardrails.max_cost_ratio,
            "max_latency_p95_ratio": guardrails.max_latency_p95_ratio,
            "max_error_rate_increase": guardrails.max_error_rate_increase,
        },
    }


def spec_from_json(data: dict[str, Any]) -> ExperimentSpec:
    return ExperimentSpec(
        policy=str(data["policy"]),
        candidate=str(data["candidate"]),
        stages=tuple(float(s) for s in data["stages"]),
        min_feedback_per_stage=int(data["min_feedback_per_stage"]),
        margin=float(data["margin"]),
        alpha=float(data["alpha"]),
        mode=cast(Mode, data["mode"]),
        replaces=data["replaces"],
        guardrails=Guardrails(**data["guardrails"]),
    )
