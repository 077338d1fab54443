"""new_decision(): one decision assembled from what decide() chose, by the policy's settings."""

from __future__ import annotations

import doctest
from dataclasses import replace
from types import ModuleType

import pytest

from bandit.decide import Routed
from bandit.eligibility import Constraints
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from bandit.types import Arm, Context
from domain import (
    OPEN,
    DecisionRecord,
    ExperimentAssignment,
    LearnerState,
    PolicyConfig,
    PolicyRecord,
    access,
    endpoint,
    new_decision,
)
from storage.codec import from_stored, to_stored

ROUTED = Routed(
    arms=(Arm("a"), Arm("b"), Arm("accept")),
    pmf=(0.2, 0.7, 0.1),
    chosen=1,
    fallbacks=("accept", "a"),
    excluded={"c": "c: too dear."},
)


def policy(**config: object) -> PolicyRecord:
    settings = replace(PolicyConfig(models=("a", "b")), **config)  # type: ignore[arg-type]
    return PolicyRecord("p", revision=3, config=settings, created_at=0.0, updated_at=0.0)


def decision(record: PolicyRecord, hidden: frozenset[str] = frozenset()) -> DecisionRecord:
    return new_decision(
        decision_id="d-1",
        policy=record,
        learner=LearnerState(revision=3, version=40, learned_count=12),
        routed=ROUTED,
        context=Context(),
        constraints=Constraints(max_cost_usd=0.5),
        request_hash="h",
        now=100.0,
        caller_features={"task": "code"},
        prompt="Write a query.",
        prompt_hash="ph",
        prompt_tokens=4.0,
        trace_id=None,
        hidden_fallbacks=hidden,
    )


def test_the_decision_logs_the_choice_with_its_propensity_and_learner() -> None:
    made = decision(policy())
    assert (made.chosen_model, made.propensity) == ("b", 0.7)
    assert (made.policy_revision, made.policy_version, made.learned_count) == (3, 40, 12)
    assert made.join_status == OPEN
    assert made.routing is not None
    assert made.routing.constraints == {"max_cost_usd": 0.5}
    assert made.routing.excluded == {"c": "c: too dear."}


def test_the_window_closes_after_the_policys_wait_or_on_first_feedback() -> None:
    assert decision(policy()).window_closes_at is None
    waiting = policy(reward=RewardRule(wait_seconds=60.0))
    assert decision(waiting).window_closes_at == 160.0


def test_the_prompt_is_kept_only_where_the_policy_stores_prompts() -> None:
    assert decision(policy()).prompt is None
    assert decision(policy(store_prompts=True)).prompt == "Write a query."
    assert decision(policy()).prompt_hash == "ph"


def test_arms_that_are_not_models_are_never_offered_as_fallbacks() -> None:
    assert decision(policy()).routing.fallbacks == ("accept", "a")  # type: ignore[union-attr]
    hidden = decision(policy(), hidden=frozenset({"accept"}))
    assert hidden.routing.fallbacks == ("a",)  # type: ignore[union-attr]


def test_review_sampling_follows_the_policy() -> None:
    assert decision(policy()).review_probability is None
    assert decision(policy(review=ReviewSettings(rate=1.0))).review_probability == 1.0


def test_an_experiment_assignment_is_stored_and_read_back_as_itself() -> None:
    assignment = ExperimentAssignment(id="e-1", arm="candidate", share=0.25, stage=1)
    stored = to_stored(assignment)
    assert stored == {"id": "e-1", "arm": "candidate", "share": 0.25, "stage": 1}
    assert from_stored(stored, ExperimentAssignment) == assignment
    with pytest.raises(ValueError, match="arm"):
        from_stored({**stored, "arm": "neither"}, ExperimentAssignment)


@pytest.mark.parametrize("module", [access, endpoint])
def test_doctests(module: ModuleType) -> None:
    """``pytest`` collects ``tests/`` only, so the modules' worked examples run from here."""
    failed, attempted = doctest.testmod(module)
    assert attempted > 0
    assert failed == 0
