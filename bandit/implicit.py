"""Implicit signals: what a caller's behaviour says about an answer without a score.

A *regeneration* (the same conversation sent again within ``regeneration_seconds``: the
user asked for another answer) counts as a score of 0 for the earlier decision, with source
``implicit``. Off by default. It needs the policy's ``default_reward``: a signal that only
ever says "bad" must be learned beside the answers that were not regenerated, or every model
would be pushed down by its traffic (see ``bandit.reward``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["IMPLICIT_SOURCE", "MAX_REGENERATION_SECONDS", "ImplicitSignals"]

#: The feedback source of implicit signals.
IMPLICIT_SOURCE = "implicit"
#: An hour: beyond it the same conversation is a new request, not a regeneration.
MAX_REGENERATION_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ImplicitSignals:
    """``regeneration_seconds`` 0 (the default) is off.

    >>> ImplicitSignals(regeneration_seconds=7200)
    Traceback (most recent call last):
    ...
    ValueError: implicit regeneration_seconds must be a number from 0 (off) to 3600, got 7200.
    """

    regeneration_seconds: float = 0.0

    def __post_init__(self) -> None:
        seconds = self.regeneration_seconds
        if isinstance(seconds, bool) or not (
            math.isfinite(seconds) and 0.0 <= seconds <= MAX_REGENERATION_SECONDS
        ):
            raise ValueError(
                "implicit regeneration_seconds must be a number from 0 (off) to "
                f"{MAX_REGENERATION_SECONDS:g}, got {seconds!r}."
            )

    @property
    def enabled(self) -> bool:
        return self.regeneration_seconds > 0.0
