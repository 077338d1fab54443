"""Small operations on probability mass functions shared by every policy."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bandit.types import Pmf

__all__ = ["normalise", "with_floor"]


def normalise(weights: Sequence[float]) -> Pmf:
    """Scale non-negative ``weights`` to sum to one; all-zero weights become uniform.

    >>> normalise([1.0, 3.0])
    (0.25, 0.75)
    """
    cleaned = [w if math.isfinite(w) and w > 0.0 else 0.0 for w in weights]
    total = math.fsum(cleaned)
    if total <= 0.0:
        return tuple(1.0 / len(cleaned) for _ in cleaned)
    return tuple(w / total for w in cleaned)


def with_floor(pmf: Pmf, floor: float) -> Pmf:
    """Mix ``pmf`` with the uniform distribution so that every entry is at least ``floor``.

    The mixture ``floor + (1 - k * floor) * p`` keeps the ranking and sums to one; a floor above
    ``1 / k`` is capped there (uniform).

    >>> with_floor((1.0, 0.0), 0.1)
    (0.9, 0.1)
    """
    k = len(pmf)
    floor = min(max(floor, 0.0), 1.0 / k)
    if floor == 0.0:
        return pmf
    scale = 1.0 - k * floor
    return tuple(floor + scale * p for p in pmf)
