"""Seeded sampling: stable seeds, the right frequencies, never an impossible arm."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandit.sampling import sample_index, seed_for
from bandit.types import Pmf


@pytest.mark.parametrize(
    "pmf",
    [
        (0.0, 0.5, 0.5),
        (0.5, 0.0, 0.5),
        (0.5, 0.5, 0.0),
        (0.0, 0.0, 1.0, 0.0),
        (0.3, 0.0, 0.0, 0.7, 0.0, 0.0),
        # Ten tenths add up to 0.9999999999999999: draws above that take the fallback.
        (*(0.1,) * 10, 0.0),
    ],
)
def test_never_returns_an_index_with_probability_zero(pmf: Pmf) -> None:
    impossible = {i for i, p in enumerate(pmf) if p == 0.0}

    drawn = {sample_index(pmf, seed) for seed in range(5000)}

    assert not drawn & impossible
    assert drawn == set(range(len(pmf))) - impossible


def test_fallback_for_mass_short_of_one_takes_the_last_possible_index() -> None:
    # Only half the mass is present: draws in [0.5, 1) fall through every bucket.
    pmf = (0.25, 0.0, 0.25, 0.0)

    draws = [sample_index(pmf, seed) for seed in range(4000)]

    assert set(draws) == {0, 2}
    assert draws.count(2) / len(draws) == pytest.approx(0.75, abs=0.03)


def test_empirical_frequencies_match_the_pmf() -> None:
    pmf = (0.05, 0.2, 0.0, 0.45, 0.3)
    n = 20_000

    counts = np.bincount([sample_index(pmf, seed) for seed in range(n)], minlength=len(pmf))

    # The largest standard error is sqrt(0.25 / 20000) ~ 0.0035; 0.015 is over four of them.
    assert counts / n == pytest.approx(pmf, abs=0.015)


def test_same_seed_gives_the_same_index() -> None:
    pmf = (0.2, 0.2, 0.2, 0.2, 0.2)

    assert [sample_index(pmf, s) for s in range(300)] == [sample_index(pmf, s) for s in range(300)]


def test_seed_for_is_pinned() -> None:
    # Decisions logged today must replay to the same draw in every future process.
    assert seed_for("d0") == 780580909251479843
    assert seed_for("d0") == int.from_bytes(hashlib.sha256(b"d0").digest()[:8], "big")


def test_draws_for_known_decision_ids_are_pinned() -> None:
    # Pins the generator too: a numpy change to default_rng would break replay.
    pmf = (0.1,) * 10

    draws = [sample_index(pmf, seed_for(f"d{i}")) for i in range(10)]

    assert draws == [9, 8, 7, 8, 8, 5, 4, 2, 2, 4]


def test_seed_for_is_a_64_bit_value_that_depends_on_the_id() -> None:
    seeds = [seed_for(f"decision-{i}") for i in range(1000)]

    assert all(0 <= seed < 2**64 for seed in seeds)
    assert len(set(seeds)) == len(seeds)
    assert seed_for("é-unicode-id") == seed_for("é-unicode-id")


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_the_draw_is_numpys_default_generator_draw(seed: int) -> None:
    """Decisions logged before the shortcut must keep their draw."""
    from bandit.sampling import _uniform

    assert _uniform(seed) == np.random.default_rng(seed).random()
