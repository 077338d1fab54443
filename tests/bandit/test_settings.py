"""Exploration settings are a validated value object."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import pytest

from bandit.settings import ALGORITHMS, Algorithm, ExplorationSettings


def test_defaults_are_valid() -> None:
    settings = ExplorationSettings()

    assert settings.algorithm == "squarecb"
    assert settings.algorithm in ALGORITHMS


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_is_accepted(algorithm: str) -> None:
    assert ExplorationSettings(algorithm=cast(Algorithm, algorithm)).algorithm == algorithm


def test_unknown_algorithm_is_rejected() -> None:
    with pytest.raises(ValueError, match="'thompson' is not one of squarecb"):
        ExplorationSettings(algorithm=cast(Algorithm, "thompson"))


_WITH: dict[str, Callable[[float], ExplorationSettings]] = {
    "epsilon": lambda v: ExplorationSettings(epsilon=v),
    "min_probability": lambda v: ExplorationSettings(min_probability=v),
    "gamma_scale": lambda v: ExplorationSettings(gamma_scale=v),
    "gamma_exponent": lambda v: ExplorationSettings(gamma_exponent=v),
    "learning_rate": lambda v: ExplorationSettings(learning_rate=v),
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epsilon", -0.01),
        ("epsilon", 1.01),
        ("epsilon", math.nan),
        ("min_probability", -0.1),
        ("min_probability", 1.5),
        ("min_probability", math.inf),
        ("gamma_scale", -1.0),
        ("gamma_exponent", 10.5),
        ("learning_rate", 0.0),
        ("learning_rate", math.nan),
    ],
)
def test_out_of_range_numbers_are_rejected(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field) as error:
        _WITH[field](value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("bits", [9, 25, 28])
def test_bits_out_of_range_are_rejected(bits: int) -> None:
    with pytest.raises(ValueError, match=f"bits .* got {bits}"):
        ExplorationSettings(bits=bits)


@pytest.mark.parametrize("seed", [-1, 2**31])
def test_seed_out_of_range_is_rejected(seed: int) -> None:
    with pytest.raises(ValueError, match=f"seed .* got {seed}"):
        ExplorationSettings(seed=seed)


def test_boundaries_are_accepted() -> None:
    settings = ExplorationSettings(
        epsilon=1.0, min_probability=0.0, gamma_exponent=0.0, bits=24, seed=2**31 - 1
    )

    assert (settings.epsilon, settings.bits, settings.seed) == (1.0, 24, 2**31 - 1)
