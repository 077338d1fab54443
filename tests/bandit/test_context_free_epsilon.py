"""The context-free epsilon-greedy baseline: exact pmfs, optimistic start, exact snapshots."""

from __future__ import annotations

import pytest

from bandit.context_free_epsilon import ContextFreeEpsilonGreedy
from bandit.types import Arm, Context, Interaction, Namespace

ARMS = tuple(Arm(f"m{i}") for i in range(4))
CONTEXT = Context((Namespace("caller", (("team=alpha", 1.0),)),))
OTHER_CONTEXT = Context((Namespace("caller", (("team=beta", 1.0),)),))


def teach(policy: ContextFreeEpsilonGreedy, rewards: dict[int, list[float]]) -> None:
    for chosen, values in rewards.items():
        for reward in values:
            policy.learn(Interaction(CONTEXT, ARMS, chosen, 0.25, reward))


def test_greedy_mass_goes_to_the_best_mean() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.2, min_probability=0.0)
    teach(policy, {0: [0.5, 0.5], 1: [0.25, 1.0], 2: [0.0, 0.75], 3: [-1.0]})

    # Means 0.5, 0.625, 0.375, -1: model m1 takes 1 - 0.2 on top of 0.2 / 4.
    assert policy.predict(CONTEXT, ARMS) == pytest.approx((0.05, 0.85, 0.05, 0.05), abs=1e-15)


def test_the_context_is_ignored() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.1, min_probability=0.0)
    teach(policy, {0: [0.2], 1: [0.1], 2: [0.9], 3: [0.4]})

    assert policy.predict(CONTEXT, ARMS) == policy.predict(OTHER_CONTEXT, ARMS)
    assert policy.predict(Context(), ARMS) == policy.predict(CONTEXT, ARMS)


def test_ties_go_to_the_earlier_candidate() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.2, min_probability=0.0)

    assert policy.predict(CONTEXT, ARMS)[0] == pytest.approx(0.85, abs=1e-15)
    assert policy.predict(CONTEXT, ARMS[::-1])[0] == pytest.approx(0.85, abs=1e-15)


def test_an_unseen_model_is_tried_first() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.2, min_probability=0.0)
    teach(policy, {0: [1.0] * 50, 1: [0.5] * 50})
    newcomer = Arm("newcomer")

    pmf = policy.predict(CONTEXT, (ARMS[0], ARMS[1], newcomer))

    assert max(pmf) == pmf[2]


def test_the_floor_is_applied_after_epsilon() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.0, min_probability=0.1)
    teach(policy, {3: [1.0]})

    # floor + (1 - 4 * floor) * p, with p = (1, 0, 0, 0): the unseen m0 is tried first.
    assert policy.predict(CONTEXT, ARMS) == pytest.approx((0.7, 0.1, 0.1, 0.1), abs=1e-15)


def test_snapshot_restores_the_exact_state() -> None:
    policy = ContextFreeEpsilonGreedy(epsilon=0.1, min_probability=0.0)
    teach(policy, {0: [0.1, 0.2, 0.3], 1: [0.6], 2: [-0.4, 0.35], 3: [0.6000000000000001]})
    snapshot = policy.to_bytes()

    restored = ContextFreeEpsilonGreedy(epsilon=0.1, min_probability=0.0)
    restored.load_bytes(snapshot)

    assert restored.to_bytes() == snapshot
    # m3 beats m1 by one ulp (a tie would go to m1): only exact sums keep the greedy choice.
    assert restored.predict(CONTEXT, ARMS) == policy.predict(CONTEXT, ARMS)
    assert max(range(4), key=restored.predict(CONTEXT, ARMS).__getitem__) == 3
