"""Seeded sampling: a decision id always draws the same arm from the same pmf."""

from __future__ import annotations

import hashlib

import numpy as np

from bandit.types import Pmf

__all__ = ["sample_index", "seed_for"]


def seed_for(decision_id: str) -> int:
    """A 64-bit seed derived from the decision id with sha256 (stable across processes)."""
    return int.from_bytes(hashlib.sha256(decision_id.encode("utf-8")).digest()[:8], "big")


def sample_index(pmf: Pmf, seed: int) -> int:
    """Draw an index from ``pmf`` with a generator seeded by ``seed``.

    >>> sample_index((0.0, 1.0, 0.0), seed=42)
    1
    """
    draw = np.random.default_rng(seed).random()
    cumulative = 0.0
    for index, probability in enumerate(pmf):
        cumulative += probability
        if draw < cumulative:
            return index
    # Rounding can leave the cumulative sum a hair below 1: fall back to the last arm that
    # has any mass rather than to one with probability zero.
    return max(i for i, p in enumerate(pmf) if p > 0.0)
