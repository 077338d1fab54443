"""Statistics for watching a live policy drift: PSI, a reward-drop test, quantiles, TV distance.

Pure functions on plain sequences; no I/O. ``api/service/drift.py`` feeds them the log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PSI_EPSILON",
    "RewardDrop",
    "presence_psi",
    "psi",
    "quantile",
    "reward_drop",
    "total_variation",
]

#: The share a bin is given when it is empty on one side. Without it PSI is infinite the moment
#: a feature appears or disappears; with it such a bin contributes a large but finite amount
#: (about 0.7 for a share of 0.1 against an empty bin).
PSI_EPSILON = 1e-4


def psi(
    reference: Sequence[float], current: Sequence[float], *, epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index of two binned distributions (counts or shares per bin).

    ``sum((c - r) * ln(c / r))`` over bins of the normalised shares, every share floored at
    ``epsilon`` so that an empty bin counts as rare rather than impossible. Shape: both ``(bins,)``.

    >>> psi([1, 1], [1, 1])
    0.0
    >>> round(psi([0.5, 0.5], [0.9, 0.1]), 4)
    0.8789
    """
    if len(reference) != len(current) or not reference:
        raise ValueError(
            f"PSI needs two non-empty distributions over the same bins, got {len(reference)} "
            f"and {len(current)} bins."
        )
    if not 0.0 < epsilon < 1.0:
        raise ValueError(f"The PSI epsilon must be in (0, 1), got {epsilon}.")
    r = _shares(reference)
    c = _shares(current)
    return math.fsum(
        (ci - ri) * math.log(ci / ri)
        for ri, ci in zip(np.maximum(r, epsilon), np.maximum(c, epsilon), strict=True)
    )


def presence_psi(reference_rate: float, current_rate: float) -> float:
    """PSI of a binary feature (present or absent) from its presence rates in two windows.

    >>> round(presence_psi(0.5, 0.9), 4)
    0.8789
    """
    for rate in (reference_rate, current_rate):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"A presence rate must be in [0, 1], got {rate}.")
    return psi([reference_rate, 1.0 - reference_rate], [current_rate, 1.0 - current_rate])


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (linear interpolation), or None for no values.

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    >>> quantile([], 0.95) is None
    True
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"A quantile must be in [0, 1], got {q}.")
    if not values:
        return None
    return float(np.quantile(np.asarray(values, dtype=float), q))


def total_variation(p: Sequence[float], q: Sequence[float]) -> float:
    """Total-variation distance ``0.5 * sum|p - q|`` between two pmfs over the same arms.

    >>> total_variation([0.5, 0.5], [1.0, 0.0])
    0.5
    """
    if len(p) != len(q):
        raise ValueError(f"Both pmfs must cover the same arms, got {len(p)} and {len(q)}.")
    return 0.5 * math.fsum(abs(a - b) for a, b in zip(p, q, strict=True))


@dataclass(frozen=True, slots=True)
class RewardDrop:
    """A one-sided Welch t-test that ``current`` has a lower mean than ``reference``."""

    reference_mean: float
    current_mean: float
    #: ``reference_mean - current_mean``; positive when the reward fell.
    drop: float
    p_value: float
    significant: bool


def reward_drop(
    reference: Sequence[float],
    current: Sequence[float],
    *,
    alpha: float = 0.01,
    min_drop: float = 0.05,
) -> RewardDrop | None:
    """Whether the mean reward fell by more than ``min_drop`` with Welch's ``p < alpha``.

    None when either side has fewer than 2 values (no variance to test with). Two constant
    samples have no noise: any difference is then certain (p = 0).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}.")
    if len(reference) < 2 or len(current) < 2:
        return None
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    ref_mean, cur_mean = float(ref.mean()), float(cur.mean())
    drop = ref_mean - cur_mean
    if ref.var() == 0.0 and cur.var() == 0.0:
        p_value = 0.0 if drop > 0.0 else 1.0
    else:
        # Imported here: scipy.stats takes most of a second to import, and only the drift
        # report (in a child process) needs it, not a server's start-up.
        from scipy import stats  # type: ignore[import-untyped]

        result = stats.ttest_ind(ref, cur, equal_var=False, alternative="greater")
        p_value = float(result.pvalue)
    return RewardDrop(
        reference_mean=ref_mean,
        current_mean=cur_mean,
        drop=drop,
        p_value=p_value,
        significant=p_value < alpha and drop > min_drop,
    )


def _shares(counts: Sequence[float]) -> np.ndarray[tuple[int], np.dtype[np.float64]]:
    values = np.asarray(counts, dtype=float)
    if (values < 0).any() or not np.isfinite(values).all():
        raise ValueError("Bin counts must be finite and non-negative.")
    total = float(values.sum())
    if total <= 0.0:
        raise ValueError("A distribution needs a positive total over its bins.")
    return values / total
