"""decide(): exploration only among eligible models, exact propensities, ordered fallbacks."""

from __future__ import annotations

import math

import pytest

from bandit.decide import Candidate, Overlay, decide
from bandit.eligibility import Constraints, ModelFacts, NoEligibleModelError
from bandit.learner import Learner
from bandit.types import Arm, Context, Interaction, Pmf
from bandit.uniform import UniformPolicy


class FixedPolicy:
    """Scores by a fixed preference per arm id (higher first)."""

    def __init__(self, preference: dict[str, float]) -> None:
        self._preference = preference
        self.seen: list[tuple[str, ...]] = []

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        self.seen.append(tuple(a.id for a in arms))
        weights = [self._preference[a.id] for a in arms]
        total = math.fsum(weights)
        return tuple(w / total for w in weights)

    def learn(self, interaction: Interaction) -> None:
        raise AssertionError("decide never learns")

    def to_bytes(self) -> bytes:
        return b""


def candidate(model: str, **facts: object) -> Candidate:
    return Candidate(Arm(model), ModelFacts(model, 1.0, 1.0, **facts))  # type: ignore[arg-type]


CANDIDATES = [
    candidate("a", features={"region": "eu"}),
    candidate("b", features={"region": "us"}),
    candidate("c", features={"region": "eu"}),
    candidate("d", features={"region": "eu"}),
]


def test_the_policy_sees_only_eligible_models_and_the_pmf_is_exact_over_them() -> None:
    policy = FixedPolicy({"a": 1.0, "b": 5.0, "c": 3.0, "d": 2.0})
    routed = decide(
        Learner(policy),
        "id-1",
        Context(),
        CANDIDATES,
        policy="p",
        constraints=Constraints(require={"region": "eu"}),
    )
    assert policy.seen == [("a", "c", "d")]
    assert [a.id for a in routed.arms] == ["a", "c", "d"]
    assert routed.pmf == pytest.approx((1 / 6, 3 / 6, 2 / 6))
    assert math.fsum(routed.pmf) == pytest.approx(1.0)
    assert list(routed.excluded) == ["b"]
    # Fallbacks: the others, best first by the policy's preference.
    expected = [m for m in ("c", "d", "a") if m != routed.model]
    assert list(routed.fallbacks) == expected


def test_cooling_models_are_left_out_unless_every_eligible_model_is_cooling() -> None:
    cooling = [
        candidate("a", cooldown="a: cooling down."),
        candidate("b"),
        candidate("c", cooldown="c: cooling down."),
    ]
    routed = decide(Learner(UniformPolicy()), "id", Context(), cooling, policy="p")
    assert [a.id for a in routed.arms] == ["b"]
    assert routed.excluded == {"a": "a: cooling down.", "c": "c: cooling down."}
    assert routed.fallbacks == ()
    all_cooling = [c for c in cooling if c.facts.cooldown]
    fail_open = decide(Learner(UniformPolicy()), "id", Context(), all_cooling, policy="p")
    assert fail_open.cooldowns_ignored
    assert [a.id for a in fail_open.arms] == ["a", "c"]


def test_no_eligible_model_names_each_models_exclusion() -> None:
    with pytest.raises(NoEligibleModelError) as caught:
        decide(
            Learner(UniformPolicy()),
            "id",
            Context(),
            CANDIDATES,
            policy="p",
            constraints=Constraints(require={"region": "apac"}),
            already_tried={"a": "a: already tried."},
        )
    assert sorted(caught.value.excluded) == ["a", "b", "c", "d"]
    assert "a: already tried." in str(caught.value)
    assert "d: requires region='apac', but the model has 'eu'." in str(caught.value)


def test_already_tried_models_are_not_chosen_again() -> None:
    routed = decide(
        Learner(UniformPolicy()),
        "id",
        Context(),
        CANDIDATES,
        policy="p",
        already_tried={"a": "a: tried.", "b": "b: tried."},
    )
    assert [a.id for a in routed.arms] == ["c", "d"]


def test_an_experiment_candidate_splits_only_when_it_is_eligible() -> None:
    new = candidate("new", features={"region": "us"})
    eu = Constraints(require={"region": "eu"})
    for on_candidate in (True, False):
        overlay = Overlay(new, share=0.25, on_candidate=on_candidate)
        routed = decide(
            Learner(UniformPolicy()), "id", Context(), CANDIDATES, policy="p", overlay=overlay
        )
        assert routed.split
        assert routed.pmf[-1] == 0.25
        assert math.fsum(routed.pmf) == pytest.approx(1.0)
        assert (routed.model == "new") is on_candidate
        assert "new" not in routed.fallbacks
        shut_out = decide(
            Learner(UniformPolicy()),
            "id",
            Context(),
            CANDIDATES,
            policy="p",
            constraints=eu,
            overlay=overlay,
        )
        assert not shut_out.split
        assert shut_out.model != "new"
        assert "new" in shut_out.excluded


class ScoringPolicy(UniformPolicy):
    """A uniform pmf, but predicted rewards that rank the arms: fallbacks follow the rewards."""

    def scores(self, context: Context, arms: tuple[Arm, ...]) -> tuple[float, ...]:
        return tuple({"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3}[arm.id] for arm in arms)


def test_fallbacks_follow_predicted_rewards_when_the_policy_gives_them() -> None:
    routed = decide(Learner(ScoringPolicy()), "id-7", Context(), CANDIDATES, policy="p")
    expected = [m for m in ("b", "c", "d", "a") if m != routed.model]
    assert list(routed.fallbacks) == expected
    assert routed.pmf == pytest.approx((0.25, 0.25, 0.25, 0.25))
