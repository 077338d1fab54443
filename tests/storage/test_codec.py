"""Stored JSON is derived from the domain types and read back as the same value; what earlier
versions stored still loads (``upgrade_config``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bandit.budget import Budget
from bandit.cascade import CascadeSpec
from bandit.decide import RoutingNotes
from bandit.eligibility import Constraints
from bandit.review import ReviewSettings
from bandit.reward import RewardRule, SourceRule
from domain import ModelEndpoint, PolicyConfig
from experiments import ExperimentSpec
from storage.codec import (
    config_from_json,
    config_to_json,
    endpoint_from_json,
    endpoint_to_json,
    routing_from_json,
    routing_to_json,
    spec_from_json,
    spec_to_json,
)

RICH = PolicyConfig(
    models=("a", "b", "c", "d"),
    reward=RewardRule(
        sources={"user": SourceRule(2.0, "mean"), "judge": SourceRule(1.0, "latest")},
        cost_weight=0.5,
        wait_seconds=30,
    ),
    constraints=Constraints(max_cost_usd=0.1, require={"region": "eu"}),
    cascade=CascadeSpec(first=("a",), escalate=("b", "c"), probe="d"),
    review=ReviewSettings(0.1, "stratified", {"b": 0.5}),
    retention_days=30,
    store_prompts=True,
)
BUDGETED = PolicyConfig(
    models=("a", "b"), budget=Budget(cost_share=0.2, reference="b"), budget_usd=0.003
)

#: ``RICH`` and ``BUDGETED`` as the version before derived JSON stored them, word for word.
LEGACY_RICH = """{"models": ["a", "b", "c", "d"], "reward": {"wait_seconds": 30, "cost_weight": 0.5,
"latency_weight": 0.0, "default_reward": null, "error_reward": 0.0, "reward_range": [-10.0, 10.0],
"sources": {"judge": {"weight": 1.0, "aggregation": "latest"}, "user": {"weight": 2.0,
"aggregation": "mean"}}}, "exploration": {"algorithm": "squarecb", "epsilon": 0.05,
"gamma_scale": 5.0, "gamma_exponent": 0.5, "min_probability": 0.001, "learning_rate": 0.2,
"learning_rate_decay": 0.5, "bits": 18, "seed": 0}, "features": {"text": true, "words": true,
"embedding": false}, "store_prompts": true, "retention_days": 30, "constraints":
{"max_cost_usd": 0.1, "require": {"region": "eu"}}, "cascade": {"first": ["a"], "escalate":
["b", "c"], "probe": "d"}, "escalation_for": null, "review": {"rate": 0.1, "design":
"stratified", "per_model": {"b": 0.5}}, "health": {"window_seconds": 60.0, "min_calls": 5,
"max_error_rate": 0.5, "cooldown_seconds": 30.0}, "budget": null}"""
LEGACY_BUDGETED = """{"models": ["a", "b"], "reward": {"wait_seconds": 0.0, "cost_weight": 0.0,
"latency_weight": 0.0, "default_reward": null, "error_reward": 0.0, "reward_range": [-10.0,
10.0], "sources": {}}, "exploration": {"algorithm": "squarecb", "epsilon": 0.05,
"gamma_scale": 5.0, "gamma_exponent": 0.5, "min_probability": 0.001, "learning_rate": 0.2,
"learning_rate_decay": 0.5, "bits": 18, "seed": 0}, "features": {"text": true, "words": true,
"embedding": false}, "store_prompts": false, "retention_days": null, "constraints": {},
"cascade": null, "escalation_for": null, "review": {"rate": 0.0, "design": "uniform",
"per_model": {}}, "health": {"window_seconds": 60.0, "min_calls": 5, "max_error_rate": 0.5,
"cooldown_seconds": 30.0}, "budget": {"cost_share": 0.2, "reference": "b", "usd_per_request":
null, "resolved_usd_per_request": 0.003}}"""


def through_a_json_column(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("config", [PolicyConfig(models=("m",)), RICH, BUDGETED])
def test_a_policy_config_reads_back_as_itself(config: PolicyConfig) -> None:
    assert config_from_json(through_a_json_column(config_to_json(config))) == config


@pytest.mark.parametrize(("legacy", "config"), [(LEGACY_RICH, RICH), (LEGACY_BUDGETED, BUDGETED)])
def test_a_policy_config_stored_by_the_hand_written_codec_still_loads(
    legacy: str, config: PolicyConfig
) -> None:
    assert config_from_json(json.loads(legacy)) == config


def test_every_field_of_a_policy_config_is_stored() -> None:
    stored = config_to_json(RICH)
    assert set(stored) == set(PolicyConfig.__dataclass_fields__)
    assert stored["cascade"]["probe"] == "d"
    assert stored["constraints"]["require"] == {"region": "eu"}


def test_a_stored_value_that_no_longer_fits_fails_naming_the_field() -> None:
    stored = through_a_json_column(config_to_json(RICH))
    stored["review"]["design"] = "sometimes"
    with pytest.raises(ValueError, match=r"review\.design"):
        config_from_json(stored)


def test_specs_routing_notes_and_endpoints_read_back_as_themselves() -> None:
    spec = ExperimentSpec(policy="p", candidate="c", mode="replace", replaces="a")
    assert spec_from_json(through_a_json_column(spec_to_json(spec))) == spec
    notes = RoutingNotes(
        constraints={"max_cost_usd": 0.1},
        excluded={"x": "x: too dear."},
        fallbacks=("a",),
        tried=("b",),
        prompt_tokens=3.0,
    )
    assert routing_from_json(through_a_json_column(routing_to_json(notes))) == notes
    # Decisions logged before the tried models and the prompt's size were noted.
    assert routing_from_json({"constraints": {}, "excluded": {}, "fallbacks": ["a"]}) == (
        RoutingNotes(fallbacks=("a",))
    )
    endpoint = ModelEndpoint("openai", "https://api.example.com/v1", "m", "KEY")
    assert endpoint_from_json(through_a_json_column(endpoint_to_json(endpoint))) == endpoint
    assert endpoint_from_json({"api": "openai", "base_url": "http://h", "model": "m"}) == (
        ModelEndpoint("openai", "http://h", "m")
    )
