"""What an operator states: a budget as a share of a reference model's cost, or in USD per request,
and its bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bandit.limits import MAX_COST_SHARE, MAX_USD_PER_REQUEST, MIN_USD_PER_REQUEST

__all__ = [
    "REPLAY_CALIBRATION",
    "Budget",
]

#: Recent requests a replay's budgeted policy calibrates its greedy (holdout) decisions on.
REPLAY_CALIBRATION = 3000


@dataclass(frozen=True, slots=True)
class Budget:
    """What a policy may spend per request: a share of a reference model's cost, or USD.

    >>> Budget(cost_share=0.2, reference="gpt-4").usd_per_request_for(0.005)
    0.001
    >>> Budget(usd_per_request=0.002).usd_per_request_for(None)
    0.002
    >>> Budget(cost_share=0.2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A budget with cost_share 0.2 must name its reference model ...
    >>> Budget(cost_share=0.2, reference="gpt-4", usd_per_request=0.001)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: A budget states either cost_share with a reference model or usd_per_request, ...
    """

    cost_share: float | None = None
    reference: str | None = None
    usd_per_request: float | None = None

    def __post_init__(self) -> None:
        if self.usd_per_request is not None:
            if self.cost_share is not None or self.reference is not None:
                raise ValueError(
                    "A budget states either cost_share with a reference model or "
                    f"usd_per_request, not both (got cost_share {self.cost_share!r}, reference "
                    f"{self.reference!r}, usd_per_request {self.usd_per_request!r})."
                )
            _check_usd("usd_per_request", self.usd_per_request)
            return
        if self.cost_share is None:
            raise ValueError(
                "A budget needs either cost_share with a reference model or usd_per_request."
            )
        _check_positive("cost_share", self.cost_share, MAX_COST_SHARE)
        if not self.reference:
            raise ValueError(
                f"A budget with cost_share {self.cost_share!r} must name its reference model "
                "(the model whose cost per request the share is of)."
            )

    def usd_per_request_for(self, reference_cost_usd: float | None) -> float:
        """The target in USD per request, given the reference model's mean cost per request."""
        if self.usd_per_request is not None:
            return self.usd_per_request
        assert self.cost_share is not None  # validated at construction
        if reference_cost_usd is None or not (
            math.isfinite(reference_cost_usd) and reference_cost_usd > 0.0
        ):
            raise ValueError(
                f"The budget is {self.cost_share!r} of {self.reference!r}'s cost per request, "
                f"but that cost is unknown or not positive ({reference_cost_usd!r})."
            )
        usd = self.cost_share * reference_cost_usd
        _check_usd(f"The budget ({self.cost_share!r} of {self.reference!r}'s cost)", usd)
        return usd


def _check_usd(name: str, value: float) -> None:
    if isinstance(value, bool) or not (
        math.isfinite(value) and MIN_USD_PER_REQUEST <= value <= MAX_USD_PER_REQUEST
    ):
        raise ValueError(
            f"{name} must be between {MIN_USD_PER_REQUEST:g} and {MAX_USD_PER_REQUEST:g} USD "
            f"per request, got {value!r}."
        )


def _check_positive(name: str, value: float, ceiling: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and 0.0 < value <= ceiling):
        raise ValueError(f"{name} must be a number above 0 and at most {ceiling:g}, got {value!r}.")
