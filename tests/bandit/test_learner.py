"""The learner: seeded sampling by decision id, input checks and bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from bandit.errors import InvalidInputError
from bandit.factory import make_policy
from bandit.learner import Learner
from bandit.policy import Policy
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace, Pmf

CONTEXT = Context((Namespace("caller", (("team=alpha", 1.0),)),))
ARMS = tuple(Arm(f"m{i}", (Namespace("Model", ((f"m{i}", 1.0),)),)) for i in range(4))


class FixedPolicy:
    """A fake policy: always the same pmf; records what it is asked to learn."""

    def __init__(self, pmf: Pmf) -> None:
        self.pmf = pmf
        self.learned: list[Interaction] = []
        self.predictions = 0

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        self.predictions += 1
        return self.pmf

    def learn(self, interaction: Interaction) -> None:
        self.learned.append(interaction)

    def to_bytes(self) -> bytes:
        return b"fixed-state"


def trained_vw_policy(snapshot: bytes | None = None) -> Policy:
    policy = make_policy(
        ExplorationSettings(algorithm="squarecb"),
        context_namespaces=("caller",),
        arm_namespaces=("Model",),
        snapshot=snapshot,
    )
    if snapshot is None:
        rng = np.random.default_rng(0)
        for _ in range(100):
            chosen = int(rng.integers(len(ARMS)))
            reward = 1.0 if chosen == 2 else float(rng.uniform(0.0, 0.5))
            policy.learn(Interaction(CONTEXT, ARMS, chosen, 1 / len(ARMS), reward))
    return policy


def test_same_decision_id_and_state_give_the_same_choice() -> None:
    original = trained_vw_policy()
    twin = trained_vw_policy(snapshot=original.to_bytes())
    first, second = Learner(original), Learner(twin)

    decisions = [first.decide(f"d{i}", CONTEXT, ARMS) for i in range(200)]

    assert decisions == [first.decide(f"d{i}", CONTEXT, ARMS) for i in range(200)]
    assert decisions == [second.decide(f"d{i}", CONTEXT, ARMS) for i in range(200)]
    # The pmf is not degenerate, so equal choices are not trivially equal.
    assert len({d.chosen for d in decisions}) > 1


def test_decision_records_the_pmf_and_the_choice() -> None:
    policy = FixedPolicy((0.1, 0.2, 0.3, 0.4))
    decision = Learner(policy).decide("d-7", CONTEXT, ARMS)

    assert decision.decision_id == "d-7"
    assert decision.context == CONTEXT
    assert decision.arms == ARMS
    assert decision.pmf == (0.1, 0.2, 0.3, 0.4)
    assert decision.model == ARMS[decision.chosen].id
    assert decision.propensity == decision.pmf[decision.chosen]


def test_choices_follow_the_pmf_across_decision_ids() -> None:
    pmf = (0.5, 0.3, 0.15, 0.05)
    learner = Learner(FixedPolicy(pmf))
    n = 4000

    chosen = [learner.decide(f"d{i}", CONTEXT, ARMS).chosen for i in range(n)]
    counts = np.bincount(chosen, minlength=len(pmf))

    expected = n * np.array(pmf)
    assert stats.chisquare(counts, expected).pvalue > 1e-3
    # The same counts are far from uniform, so the check above can tell distributions apart.
    assert stats.chisquare(counts, np.full(len(pmf), n / len(pmf))).pvalue < 1e-12


def test_zero_probability_models_are_never_chosen() -> None:
    learner = Learner(FixedPolicy((0.0, 0.7, 0.0, 0.3)))

    chosen = {learner.decide(f"d{i}", CONTEXT, ARMS).chosen for i in range(2000)}

    assert chosen == {1, 3}


def test_no_candidates_is_invalid_input() -> None:
    policy = FixedPolicy(())

    with pytest.raises(InvalidInputError, match="no candidate models"):
        Learner(policy).decide("d0", CONTEXT, ())
    assert policy.predictions == 0


def test_duplicate_candidates_are_invalid_input() -> None:
    policy = FixedPolicy((0.25, 0.25, 0.25, 0.25))
    arms = (ARMS[0], ARMS[1], Arm("m0"), ARMS[2])

    with pytest.raises(InvalidInputError, match="'m0'"):
        Learner(policy).decide("d0", CONTEXT, arms)
    assert policy.predictions == 0


def test_learned_counts_interactions_and_forwards_them_in_order() -> None:
    policy = FixedPolicy((0.25, 0.25, 0.25, 0.25))
    learner = Learner(policy)
    interactions = [Interaction(CONTEXT, ARMS, i, 0.25, i / 10) for i in range(3)]

    assert learner.learned == 0
    learner.decide("d0", CONTEXT, ARMS)
    assert learner.learned == 0
    for interaction in interactions:
        learner.learn(interaction)

    assert learner.learned == 3
    assert policy.learned == interactions
    assert learner.policy is policy
    assert learner.snapshot() == b"fixed-state"


def test_learned_continues_from_the_restored_count() -> None:
    learner = Learner(FixedPolicy((1.0, 0.0, 0.0, 0.0)), learned=41)

    learner.learn(Interaction(CONTEXT, ARMS, 0, 1.0, 0.5))

    assert learner.learned == 42
