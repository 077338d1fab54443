"""Running statistics, always-valid confidence sequences and the sample-ratio-mismatch test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats  # type: ignore[import-untyped]

from experiments import (
    MIN_TEST_FEEDBACK,
    ArmAccumulator,
    Moments,
    assign_candidate,
    difference_sequence,
    normal_mixture_sequence,
    quantile_bounds,
    sample_ratio_mismatch,
)
from experiments.statistics import SRM_CONCENTRATION

ALPHA = 0.05
RUNS = 200


def test_moments_match_numpy() -> None:
    values = np.random.default_rng(3).normal(2.0, 3.0, 1000)
    moments = Moments.of(values.tolist())
    assert moments.n == 1000
    assert moments.mean == pytest.approx(values.mean())
    assert moments.variance == pytest.approx(values.var(ddof=1))
    halves = Moments.of(values[:300].tolist()).merge(Moments.of(values[300:].tolist()))
    assert halves.mean == pytest.approx(moments.mean)
    assert halves.m2 == pytest.approx(moments.m2)


def test_moments_reject_non_finite_values() -> None:
    with pytest.raises(ValueError, match="nan"):
        Moments().add(math.nan)


def test_accumulator_tracks_every_metric() -> None:
    arm = ArmAccumulator()
    for i in range(100):
        arm.add(i / 100, quality=0.5, cost_usd=0.01, latency_ms=float(100 - i), error=i % 10 == 0)
    snapshot = arm.stats()
    assert snapshot.n == 100
    assert snapshot.reward.mean == pytest.approx(0.495)
    assert snapshot.error_rate == pytest.approx(0.1)
    assert snapshot.cost_usd.mean == pytest.approx(0.01)
    assert snapshot.latencies_ms == tuple(float(i) for i in range(1, 101))
    assert snapshot.latency_p95 == 95.0
    arm.add(1.0)
    assert snapshot.n == 100  # a snapshot does not move with the accumulator


def test_accumulator_rejects_a_bad_value_without_a_partial_update() -> None:
    arm = ArmAccumulator()
    with pytest.raises(ValueError, match="latency"):
        arm.add(0.5, latency_ms=math.inf)
    assert arm.stats().n == 0


def _moments_at(values: np.ndarray, counts: np.ndarray) -> list[Moments]:
    """Moments of the first ``count`` values for every look, from cumulative sums."""
    s1 = np.concatenate(([0.0], np.cumsum(values)))
    s2 = np.concatenate(([0.0], np.cumsum(values * values)))
    out = []
    for n in counts:
        mean = s1[n] / n
        out.append(Moments(int(n), float(mean), float(max(0.0, s2[n] - n * mean * mean))))
    return out


@pytest.mark.parametrize("rewards", ["bernoulli", "skewed", "exponential"])
def test_difference_sequence_covers_at_every_look(rewards: str) -> None:
    """Over 200 experiments with a look every 25 decisions from the rule's burn-in on, through
    shares 0.1, 0.25 and 0.5, the true difference leaves the sequence in at most alpha (+ slack)
    of the runs."""
    rng = np.random.default_rng(20240601)
    total = 6000
    shares = np.repeat([0.10, 0.25, 0.50], total // 3)
    truth = -0.05
    misses = 0
    final_widths = []
    for _ in range(RUNS):
        on_candidate = rng.random(total) < shares
        if rewards == "bernoulli":
            outcomes_c = (rng.random(total) < 0.65).astype(float)
            outcomes_k = (rng.random(total) < 0.70).astype(float)
        elif rewards == "skewed":  # Beta(0.3, 1.2) has mean 0.2; unequal spreads
            outcomes_c = rng.beta(0.3, 1.2, total)
            outcomes_k = rng.normal(0.25, 0.2, total)
        else:  # a stress case beyond bounded rewards: what sets the burn-in
            outcomes_c = rng.exponential(0.65, total)
            outcomes_k = rng.normal(0.70, 0.2, total)
        cand = outcomes_c[on_candidate]
        ctrl = outcomes_k[~on_candidate]
        looks = np.arange(25, total + 1, 25)
        n_c = np.cumsum(on_candidate)[looks - 1]
        n_k = looks - n_c
        usable = (n_c >= MIN_TEST_FEEDBACK) & (n_k >= MIN_TEST_FEEDBACK)
        missed = False
        for mc, mk in zip(
            _moments_at(cand, n_c[usable]), _moments_at(ctrl, n_k[usable]), strict=True
        ):
            cs = difference_sequence(mc, mk, alpha=ALPHA, design_counts=(200, 1800))
            if not cs.lower <= truth <= cs.upper:
                missed = True
                break
        misses += missed
        final_widths.append(cs.upper - cs.lower)
    assert misses / RUNS <= ALPHA + 0.03
    # ... and the sequence is not trivially wide: it does shrink as evidence accumulates.
    assert np.median(final_widths) < (0.2 if rewards == "exponential" else 0.12)


def test_e_value_and_interval_agree() -> None:
    for estimate in (-0.2, -0.05, 0.0, 0.03, 0.2):
        cs = normal_mixture_sequence(estimate, 0.001, alpha=ALPHA, mixing_variance=0.005)
        excluded = not cs.lower <= cs.null <= cs.upper
        assert excluded == (cs.e_value >= 1 / ALPHA)
        assert cs.p_value == pytest.approx(min(1.0, 1.0 / cs.e_value))


def test_sequence_is_wider_than_a_fixed_sample_interval() -> None:
    """The price of looking at any time: wider than the 95% z-interval, but not absurdly so."""
    variance = 0.0004
    cs = normal_mixture_sequence(0.0, variance, alpha=ALPHA, mixing_variance=8 * variance)
    fixed = stats.norm.ppf(1 - ALPHA / 2) * math.sqrt(variance)
    assert 1.2 * fixed < cs.upper < 2.5 * fixed


def test_quantile_bounds_cover_the_p95_at_every_look() -> None:
    rng = np.random.default_rng(7)
    truth = math.exp(stats.norm.ppf(0.95) * 0.5)  # p95 of a log-normal with sigma 0.5
    misses = 0
    for _ in range(RUNS):
        values = np.exp(0.5 * rng.standard_normal(3000))
        for n in range(50, 3001, 50):
            low, high = quantile_bounds(
                np.sort(values[:n]).tolist(), 0.95, alpha=ALPHA, design_count=200
            )
            if not low <= truth <= high:
                misses += 1
                break
    assert misses / RUNS <= ALPHA + 0.03
    low, high = quantile_bounds(np.sort(values).tolist(), 0.95, alpha=ALPHA, design_count=200)
    assert 0.8 * truth < low < truth < high < 1.25 * truth


def test_srm_catches_a_split_served_at_013_instead_of_010() -> None:
    units = [f"decision-{i}" for i in range(10_000)]
    served = sum(assign_candidate("exp-srm", unit, 0.13) for unit in units)
    assert sample_ratio_mismatch(served, len(units) - served, 0.10) < 0.001


def test_srm_stays_quiet_for_a_correct_split_however_often_it_is_looked_at() -> None:
    """Issue 22: the chi-squared test, run after every 1-50 units as the service runs it,
    paused 1.9-4.8% of healthy stages. The sequential test's chance of ever pausing a correct
    split is at most 0.001 whatever the looks (Ville's inequality)."""
    rng = np.random.default_rng(22)
    paused = 0
    for _ in range(300):
        candidate = np.cumsum(rng.random(2000) < 0.10)
        n = 0
        while n < 2000:
            n = min(2000, n + int(rng.integers(1, 51)))
            if sample_ratio_mismatch(int(candidate[n - 1]), n - int(candidate[n - 1]), 0.1) < 1e-3:
                paused += 1
                break
    assert paused == 0


def test_srm_at_full_rollout_flags_any_control_decision() -> None:
    assert sample_ratio_mismatch(500, 0, 1.0) == 1.0
    assert sample_ratio_mismatch(500, 1, 1.0) == 0.0
    assert sample_ratio_mismatch(0, 0, 0.1) == 1.0


@pytest.mark.parametrize(
    ("n_candidate", "n_control", "share"),
    [(13, 87, 0.1), (130, 870, 0.1), (0, 50, 0.25), (400, 600, 0.5), (1, 999, 0.001), (5, 5, 0.9)],
)
def test_srm_p_value_is_one_over_the_dirichlet_mixture_bayes_factor(
    n_candidate: int, n_control: int, share: float
) -> None:
    """Computed independently with scipy: BF = B(a + n) / B(a) / prod(theta ** n)."""
    a = (SRM_CONCENTRATION * share, SRM_CONCENTRATION * (1 - share))
    log_bf = (
        special.betaln(a[0] + n_candidate, a[1] + n_control)
        - special.betaln(*a)
        - n_candidate * np.log(share)
        - n_control * np.log(1 - share)
    )
    expected = min(1.0, float(np.exp(-log_bf)))
    assert sample_ratio_mismatch(n_candidate, n_control, share) == pytest.approx(
        expected, rel=1e-9, abs=1e-300
    )
