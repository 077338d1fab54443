"""Which arm a unit is in; the exact propensities logged for it come from ``bandit.decide``."""

from __future__ import annotations

import hashlib
import math

from bandit.decide import routing_pmf

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
