"""Which arm a unit is in, and the exact propensities logged for it."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

__all__ = ["assign_candidate", "assignment_point", "routing_pmf"]

_SCALE = float(2**64)


def assignment_point(experiment_id: str, unit_id: str) -> float:
    """The unit's fixed point in [0, 1): sha256 of the experiment id and unit id.

    The id lengths are part of the hashed bytes, so ``("ab", "c")`` and ``("a", "bc")`` differ.

    >>> 0.0 <= assignment_point("exp-1", "user-42") < 1.0
    True
    """
    digest = hashlib.sha256()
    for part in (experiment_id, unit_id):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return int.from_bytes(digest.digest()[:8], "big") / _SCALE


def assign_candidate(experiment_id: str, unit_id: str, share: float) -> bool:
    """Whether ``unit_id`` goes to the candidate at traffic ``share``.

    A unit's point is fixed, so assignment is monotone in ``share``: a unit on the candidate
    stays there as the share grows. Pass the decision id as ``unit_id`` when no unit is given.

    >>> assign_candidate("exp-1", "user-42", 1.0), assign_candidate("exp-1", "user-42", 0.0)
    (True, False)
    """
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise ValueError(f"Traffic share {share!r} must be in [0, 1].")
    return assignment_point(experiment_id, unit_id) < share


def routing_pmf(share: float, incumbent_pmf: Sequence[float]) -> tuple[float, tuple[float, ...]]:
    """The logged propensities while the candidate holds ``share`` of the traffic.

    The candidate is chosen with probability ``share``; incumbent ``m`` with
    ``(1 - share) * incumbent_pmf[m]``, where ``incumbent_pmf`` is the policy's pmf over the
    incumbents alone. Returns ``(candidate_probability, incumbent_probabilities)``; together
    they sum to 1. (With a stable unit hash the draw for one unit is deterministic, but over
    units these are the probabilities each decision had, which is what estimators need.)

    >>> routing_pmf(0.25, (0.5, 0.5))
    (0.25, (0.375, 0.375))
    """
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise ValueError(f"Traffic share {share!r} must be in [0, 1].")
    if not incumbent_pmf:
        raise ValueError("The incumbent pmf is empty; an experiment needs at least one incumbent.")
    if any(not (math.isfinite(p) and p >= 0.0) for p in incumbent_pmf):
        raise ValueError(
            f"Incumbent pmf {tuple(incumbent_pmf)!r} has a negative or non-finite value."
        )
    total = math.fsum(incumbent_pmf)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"Incumbent pmf {tuple(incumbent_pmf)!r} sums to {total!r}, not 1.")
    return share, tuple((1.0 - share) * p for p in incumbent_pmf)
