"""Policy settings: a frozen, validated value object per policy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["ALGORITHMS", "MAX_BITS", "MIN_BITS", "Algorithm", "ExplorationSettings"]

#: Bounds of VW's ``-b``: its weight table takes ``2**bits`` entries of 16 bytes per policy
#: (28 bits reserved 4 GB; 24 bits is 256 MB, the default 18 is 4 MB). Routing contexts have
#: a few hundred features, so hash collisions are rare long before the ceiling.
MIN_BITS = 10
MAX_BITS = 24

#: ``squarecb`` and ``epsilon`` are Vowpal Wabbit ``--cb_explore_adf`` policies; ``uniform`` and
#: ``context_free_epsilon`` are numpy baselines (and test oracles).
Algorithm = Literal["squarecb", "epsilon", "uniform", "context_free_epsilon"]
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)


@dataclass(frozen=True, slots=True)
class ExplorationSettings:
    """How a policy explores and learns.

    ``min_probability`` is the exploration floor every candidate keeps (capped at ``1/k``);
    ``learning_rate_decay`` below its default 0.5 is the forgetting option for models whose
    quality drifts. ``epsilon`` applies to the epsilon-greedy algorithms, ``gamma_scale`` and
    ``gamma_exponent`` to SquareCB (``gamma = gamma_scale * t ** gamma_exponent``).
    """

    algorithm: Algorithm = "squarecb"
    epsilon: float = 0.05
    # Tuned on the RouterBench replay (docs/results.md): a lower learning rate than VW's 0.5
    # steadies the greedy policy; a small gamma keeps sampling near-tied models long enough
    # for their estimates to separate (with 25, which model won a close task flipped by seed).
    gamma_scale: float = 5.0
    gamma_exponent: float = 0.5
    min_probability: float = 0.001
    learning_rate: float = 0.2
    #: VW's ``power_t``: how fast per-feature learning rates decay. 0 keeps them constant, so
    #: the policy keeps forgetting old evidence and follows a model whose quality changes.
    learning_rate_decay: float = 0.5
    bits: int = 18
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"Exploration algorithm {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}."
            )
        _check_range("epsilon", self.epsilon, 0.0, 1.0)
        _check_range("min_probability", self.min_probability, 0.0, 1.0)
        _check_range("gamma_scale", self.gamma_scale, 0.0, 1e9)
        _check_range("gamma_exponent", self.gamma_exponent, 0.0, 10.0)
        _check_range("learning_rate", self.learning_rate, 1e-9, 1e3)
        _check_range("learning_rate_decay", self.learning_rate_decay, 0.0, 1.0)
        if not MIN_BITS <= self.bits <= MAX_BITS:
            raise ValueError(f"bits must be between {MIN_BITS} and {MAX_BITS}, got {self.bits}.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must be between 0 and 2**31 - 1, got {self.seed}.")


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}.")
