"""The drift statistics: PSI, the reward-drop test, quantiles and total variation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bandit.drift import (
    PSI_EPSILON,
    presence_psi,
    psi,
    quantile,
    reward_drop,
    total_variation,
)


def test_psi_of_identical_distributions_is_zero() -> None:
    assert psi([3, 5, 2], [30, 50, 20]) == 0.0
    assert presence_psi(0.37, 0.37) == 0.0


def test_psi_matches_a_hand_computed_value() -> None:
    # Shares (0.2, 0.3, 0.5) against (0.3, 0.3, 0.4):
    # 0.1 * ln(1.5) + 0 + (-0.1) * ln(0.8) = 0.040547 + 0.022314 = 0.062861
    assert psi([2, 3, 5], [3, 3, 4]) == pytest.approx(0.1 * math.log(1.5) - 0.1 * math.log(0.8))
    assert psi([2, 3, 5], [3, 3, 4]) == pytest.approx(0.062861, abs=1e-6)


def test_psi_is_finite_for_an_empty_bin_thanks_to_the_epsilon() -> None:
    value = psi([1.0, 0.0], [0.9, 0.1])
    expected = (0.9 - 1.0) * math.log(0.9) + (0.1 - PSI_EPSILON) * math.log(0.1 / PSI_EPSILON)
    assert value == pytest.approx(expected)
    assert presence_psi(0.0, 0.1) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("reference", "current", "words"),
    [
        ([], [], "non-empty"),
        ([1, 2], [1], "same bins"),
        ([0, 0], [1, 1], "positive total"),
        ([-1, 2], [1, 1], "non-negative"),
    ],
)
def test_psi_rejects_bad_bins(reference: list[float], current: list[float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        psi(reference, current)


def test_quantile_and_total_variation() -> None:
    assert quantile(list(map(float, range(1, 101))), 0.95) == pytest.approx(95.05)
    assert quantile([], 0.5) is None
    assert total_variation([0.2, 0.8], [0.2, 0.8]) == 0.0
    assert total_variation([0.1, 0.6, 0.3], [0.4, 0.4, 0.2]) == pytest.approx(0.3)


@pytest.mark.parametrize("seed", range(20))
def test_reward_drop_fires_on_a_real_drop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = rng.normal(0.8, 0.1, 200).tolist()
    after = rng.normal(0.6, 0.1, 200).tolist()
    test = reward_drop(before, after)
    assert test is not None
    assert test.significant
    assert 0.15 < test.drop < 0.25


@pytest.mark.parametrize("seed", range(20))
def test_reward_drop_stays_quiet_on_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = rng.normal(0.7, 0.2, 200).tolist()
    after = rng.normal(0.7, 0.2, 200).tolist()
    test = reward_drop(before, after)
    assert test is not None
    assert not test.significant


def test_a_significant_but_small_drop_or_a_rise_is_not_flagged() -> None:
    rng = np.random.default_rng(7)
    before = rng.normal(0.80, 0.01, 2000).tolist()
    small = rng.normal(0.78, 0.01, 2000).tolist()
    tiny = reward_drop(before, small)
    assert tiny is not None
    assert tiny.p_value < 0.01
    assert not tiny.significant
    rise = reward_drop(small, before)
    assert rise is not None
    assert not rise.significant
    assert rise.drop < 0


def test_reward_drop_needs_two_values_a_side_and_handles_constants() -> None:
    assert reward_drop([1.0], [0.0, 0.0]) is None
    constant = reward_drop([1.0, 1.0], [0.5, 0.5])
    assert constant is not None
    assert constant.significant
    assert constant.p_value == 0.0
    same = reward_drop([0.5, 0.5], [0.5, 0.5])
    assert same is not None
    assert not same.significant
