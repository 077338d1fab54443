"""The experiment spec and guardrails: defaults and validation."""

from __future__ import annotations

from typing import Any

import pytest

from bandit.limits import DEFAULT_STAGES
from experiments import ExperimentSpec, Guardrails


def test_defaults_follow_the_design() -> None:
    spec = ExperimentSpec("default", "new-model")
    assert spec.stages == DEFAULT_STAGES == (0.10, 0.25, 0.50, 1.00)
    assert (spec.min_feedback_per_stage, spec.margin, spec.alpha) == (200, 0.02, 0.05)
    assert spec.mode == "add"
    assert spec.replaces is None
    assert spec.guardrails == Guardrails()
    assert [spec.share(i) for i in range(4)] == [0.10, 0.25, 0.50, 1.00]


def test_replace_mode_names_the_incumbent() -> None:
    spec = ExperimentSpec("default", "new-model", mode="replace", replaces="old-model")
    assert spec.replaces == "old-model"


def test_spec_is_frozen() -> None:
    spec = ExperimentSpec("default", "new-model")
    with pytest.raises(AttributeError):
        spec.margin = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy": ""}, "policy"),
        ({"candidate": ""}, "candidate"),
        ({"stages": ()}, "non-empty"),
        ({"stages": (0.1, 0.1, 1.0)}, "strictly increasing"),
        ({"stages": (0.5, 0.25, 1.0)}, "strictly increasing"),
        ({"stages": (0.1, 0.5)}, "last stage must be full rollout"),
        ({"stages": (0.0, 1.0)}, "must be in (0, 1]"),
        ({"stages": (0.1, 1.5)}, "must be in (0, 1]"),
        ({"stages": (0.1, float("nan"), 1.0)}, "must be in (0, 1]"),
        ({"stages": [0.1, 1.0]}, "tuple"),
        ({"min_feedback_per_stage": 0}, "min_feedback_per_stage"),
        ({"min_feedback_per_stage": 2.5}, "min_feedback_per_stage"),
        ({"min_feedback_per_stage": True}, "min_feedback_per_stage"),
        ({"margin": 0.0}, "margin"),
        ({"margin": float("inf")}, "margin"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 0.5}, "alpha"),
        ({"mode": "swap"}, "not one of add, replace"),
        ({"mode": "replace"}, "needs the incumbent"),
        ({"mode": "replace", "replaces": "new-model"}, "cannot replace itself"),
        ({"replaces": "old-model"}, "Mode 'add' replaces no model"),
        ({"guardrails": {"max_cost_ratio": 1.5}}, "Guardrails value"),
    ],
)
def test_invalid_specs_are_rejected_with_a_sentence(changes: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"policy": "default", "candidate": "new-model", **changes}
    with pytest.raises(ValueError, match=r"\.$") as caught:
        ExperimentSpec(**arguments)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_quality_drop": 0.0},
        {"max_quality_drop": 1.5},
        {"max_cost_ratio": -1.0},
        {"max_latency_p95_ratio": float("nan")},
        {"max_error_rate_increase": 2.0},
    ],
)
def test_invalid_guardrails_are_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(changes))):
        Guardrails(**changes)


def test_share_outside_the_stages_is_rejected() -> None:
    with pytest.raises(ValueError, match="Stage index 4 is outside the 4 stages"):
        ExperimentSpec("default", "new-model").share(4)
