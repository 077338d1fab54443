"""Seeded sampling: a decision id always draws the same arm from the same pmf."""

from __future__ import annotations

import hashlib

import numpy as np

from bandit.types import Pmf

__all__ = ["sample_index", "seed_for"]


def seed_for(decision_id: str) -> int:
    """A 64-bit seed derived from the decision id with sha256 (stable across processes)."""
    return int.from_bytes(hashlib.sha256(decision_id.encode("utf-8")).digest()[:8], "big")


_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


def _uniform(seed: int) -> float:
    """``np.random.default_rng(seed).random()``, without building a ``Generator``.

    The same PCG64 stream and the same 53-bit conversion NumPy's ``random()`` uses, so every
    logged decision keeps its draw; building a ``Generator`` per decision showed in replay
    profiles.
    """
    return float(int(np.random.PCG64(seed).random_raw()) >> 11) * _TWO_TO_MINUS_53


def sample_index(pmf: Pmf, seed: int) -> int:
    """Draw an index from ``pmf`` with a generator seeded by ``seed``.

    >>> sample_index((0.0, 1.0, 0.0), seed=42)
    1
    """
    draw = _uniform(seed)
    cumulative = 0.0
    for index, probability in enumerate(pmf):
        cumulative += probability
        if draw < cumulative:
            return index
    # Rounding can leave the cumulative sum a hair below 1: fall back to the last arm that
    # has any mass rather than to one with probability zero.
    return max(i for i, p in enumerate(pmf) if p > 0.0)
