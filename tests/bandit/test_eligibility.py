"""Eligibility: each constraint excludes exactly the models that break it, with a sentence."""

from __future__ import annotations

import pytest

from bandit.eligibility import (
    Constraints,
    ModelFacts,
    NoEligibleModelError,
    estimated_cost_usd,
    exclusions,
)
from bandit.errors import InvalidInputError

CHEAP = ModelFacts("cheap", 0.2, 0.6, context_window=4000, features={"region": "eu"})
BIG = ModelFacts("big", 10.0, 30.0, context_window=128_000, features={"region": "us"})
SLOW = ModelFacts("slow", 1.0, 2.0, features={"region": "eu", "tier": 2}, p95_latency_ms=9000.0)
MODELS = (CHEAP, BIG, SLOW)


def test_no_constraints_exclude_nothing() -> None:
    assert exclusions(MODELS, Constraints(), prompt_tokens=100.0) == {}


def test_cost_is_estimated_from_prompt_tokens_prices_and_the_observed_output_length() -> None:
    # 1,000 prompt tokens at $10/M plus 500 assumed output tokens at $30/M.
    assert estimated_cost_usd(BIG, 1000.0) == pytest.approx(0.025)
    observed = ModelFacts("big", 10.0, 30.0, output_tokens=100.0)
    assert estimated_cost_usd(observed, 1000.0) == pytest.approx(0.013)
    excluded = exclusions(MODELS, Constraints(max_cost_usd=0.02), prompt_tokens=1000.0)
    assert list(excluded) == ["big"]
    assert "estimated cost $0.025 exceeds max_cost_usd $0.02" in excluded["big"]
    # The observed shorter answers bring it under the cap.
    assert exclusions([observed], Constraints(max_cost_usd=0.02), prompt_tokens=1000.0) == {}


def test_latency_counts_only_once_observed() -> None:
    unobserved = ModelFacts("new", 1.0, 1.0)
    excluded = exclusions((SLOW, unobserved), Constraints(max_latency_ms=2000.0), prompt_tokens=1)
    assert list(excluded) == ["slow"]
    assert "observed p95 latency 9,000 ms exceeds max_latency_ms 2,000 ms" in excluded["slow"]


def test_context_window_is_held_against_the_prompt_size() -> None:
    excluded = exclusions(MODELS, Constraints(), prompt_tokens=5000.0)
    assert list(excluded) == ["cheap"]
    assert "estimated 5,000 tokens exceed its context window of 4,000 tokens" in excluded["cheap"]


def test_required_tags_match_declared_features_by_value_and_kind() -> None:
    excluded = exclusions(MODELS, Constraints(require={"region": "eu"}), prompt_tokens=1)
    assert list(excluded) == ["big"]
    assert "requires region='eu', but the model has 'us'" in excluded["big"]
    by_tier = exclusions(MODELS, Constraints(require={"tier": 2.0}), prompt_tokens=1)
    assert sorted(by_tier) == ["big", "cheap"]
    assert "declares no 'tier'" in by_tier["cheap"]
    # A string "2" is not the number 2, and true is not 1.
    assert "slow" in exclusions(MODELS, Constraints(require={"tier": "2"}), prompt_tokens=1)
    assert "slow" in exclusions(MODELS, Constraints(require={"tier": True}), prompt_tokens=1)


def test_allow_list_of_a_key() -> None:
    excluded = exclusions(MODELS, Constraints(allowed_models=frozenset({"cheap"})), prompt_tokens=1)
    assert sorted(excluded) == ["big", "slow"]
    assert excluded["big"] == "big: not in the models this API key may use."


def test_tightening_keeps_the_stricter_limit_and_every_tag() -> None:
    policy = Constraints(max_cost_usd=0.05, require={"region": "eu"})
    both = policy.tightened(Constraints(max_cost_usd=0.5, max_latency_ms=100.0, require={"a": 1}))
    assert both.max_cost_usd == 0.05
    assert both.max_latency_ms == 100.0
    assert dict(both.require) == {"region": "eu", "a": 1}
    keyed = both.tightened(Constraints(allowed_models=frozenset({"x", "y"}))).tightened(
        Constraints(allowed_models=frozenset({"y", "z"}))
    )
    assert keyed.allowed_models == frozenset({"y"})
    assert keyed.as_dict() == {
        "max_cost_usd": 0.05,
        "max_latency_ms": 100.0,
        "require": {"a": 1, "region": "eu"},
        "allowed_models": ["y"],
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_cost_usd": 0.0}, "max_cost_usd must be a number above 0"),
        ({"max_cost_usd": float("nan")}, "max_cost_usd must be a number above 0"),
        ({"max_latency_ms": -1.0}, "max_latency_ms must be a number above 0"),
        ({"require": {"": "x"}}, "non-empty name"),
        ({"require": {"x": float("inf")}}, "non-finite value"),
    ],
)
def test_bad_limits_are_refused_with_a_sentence(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Constraints(**kwargs)  # type: ignore[arg-type]


def test_the_no_eligible_model_error_names_every_exclusion() -> None:
    error = NoEligibleModelError("default", {"b": "b: reason two.", "a": "a: reason one."})
    assert str(error) == (
        "No model of policy 'default' is eligible for this request. a: reason one. b: reason two."
    )
    assert isinstance(error, InvalidInputError)
