"""Review sampling, the Hajek estimate on a skewed sample, and reviewer agreement."""

from __future__ import annotations

import doctest
import random
from types import ModuleType

import pytest

from bandit import agreement, review
from bandit.agreement import krippendorff_alpha
from bandit.review import (
    ReviewedDecision,
    ReviewSettings,
    review_draw,
    reviewed_quality,
    sample_for_review,
)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"rate": -0.1}, "between 0 and 1"),
        ({"rate": float("nan")}, "between 0 and 1"),
        ({"design": "cluster"}, "not one of"),
        ({"rate": 0.1, "per_model": {"m": 0.5}}, "stratified"),
        ({"design": "stratified", "per_model": {"m": 2.0}}, "'m'"),
    ],
)
def test_settings_name_the_bad_value(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        ReviewSettings(**settings)  # type: ignore[arg-type]


def test_off_by_default() -> None:
    assert not ReviewSettings().enabled
    assert all(sample_for_review(ReviewSettings(), f"d{i}", "m") is None for i in range(1000))


def test_uniform_sample_takes_about_its_rate_and_is_reproducible() -> None:
    settings = ReviewSettings(rate=0.1)
    ids = [f"decision-{i}" for i in range(20_000)]
    first = [sample_for_review(settings, i, "m") for i in ids]
    assert first == [sample_for_review(settings, i, "m") for i in ids]
    taken = [p for p in first if p is not None]
    assert set(taken) == {0.1}
    # Binomial(20000, 0.1): sd 42; 400 is ten of them.
    assert abs(len(taken) - 2000) < 400


def test_draw_is_spread_over_the_unit_interval() -> None:
    draws = [review_draw(f"x{i}") for i in range(10_000)]
    deciles = [sum(1 for d in draws if k / 10 <= d < (k + 1) / 10) for k in range(10)]
    assert all(800 < n < 1200 for n in deciles), deciles


def test_stratified_takes_each_models_own_rate() -> None:
    settings = ReviewSettings(rate=0.05, design="stratified", per_model={"new": 0.5})
    assert settings.probability("new") == 0.5
    assert settings.probability("old") == 0.05
    sampled = [sample_for_review(settings, f"d{i}", "new") for i in range(4000)]
    assert abs(sum(p is not None for p in sampled) - 2000) < 300


def test_weighted_estimate_recovers_the_population_mean_on_a_skewed_sample() -> None:
    """A good model reviewed at 50 % and a poor one at 2 %: the plain mean of the reviews
    mostly sees the good model; weighting by 1/pi gives the whole log's mean back."""
    rng = random.Random(7)
    settings = ReviewSettings(design="stratified", per_model={"good": 0.5, "poor": 0.02})
    population = []
    for i in range(40_000):
        model = "good" if rng.random() < 0.25 else "poor"
        quality = rng.uniform(0.7, 1.0) if model == "good" else rng.uniform(0.0, 0.4)
        population.append((f"d{i}", model, quality))
    true_mean = sum(q for _, _, q in population) / len(population)
    sample = []
    for decision_id, model, quality in population:
        probability = sample_for_review(settings, decision_id, model)
        if probability is not None:
            sample.append(ReviewedDecision(model, probability, (quality,)))
    overall, per_model = reviewed_quality(sample)
    assert overall is not None
    assert abs(overall.estimate - true_mean) < 0.03, (overall.estimate, true_mean)
    assert overall.naive_mean - true_mean > 0.3, (overall.naive_mean, true_mean)
    assert set(per_model) == {"good", "poor"}
    # Within a model the rate is constant, so weighting changes nothing there.
    assert per_model["poor"].estimate == pytest.approx(per_model["poor"].naive_mean)


def test_alpha_is_one_for_perfect_agreement_and_low_for_noise() -> None:
    assert krippendorff_alpha([[0.1, 0.1], [0.9, 0.9, 0.9], [0.5, 0.5]]) == pytest.approx(1.0)
    rng = random.Random(3)
    noise = [[rng.random(), rng.random()] for _ in range(2000)]
    alpha = krippendorff_alpha(noise)
    assert alpha is not None
    assert abs(alpha) < 0.1
    opposite = krippendorff_alpha([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert opposite is not None
    assert opposite < 0


def test_alpha_needs_two_decisions_with_two_scores() -> None:
    assert krippendorff_alpha([[0.5, 1.0], [0.2]]) is None
    assert krippendorff_alpha([]) is None


@pytest.mark.parametrize("module", [agreement, review])
def test_doctests(module: ModuleType) -> None:
    """The worked examples in the docstrings (Krippendorff's own, and hand computations);
    ``pytest`` collects ``tests/`` only, so they are run from here."""
    failed, attempted = doctest.testmod(module)
    assert attempted > 0
    assert failed == 0
