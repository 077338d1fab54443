"""The experiment spec: a frozen, validated description of how a candidate model is gated."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from bandit.limits import DEFAULT_STAGES

__all__ = ["ExperimentSpec", "Guardrails", "Mode"]

#: ``add``: the candidate joins the policy's models; ``replace``: it takes one incumbent's place.
Mode = Literal["add", "replace"]


def _check_positive(name: str, value: float | None, *, upper: float = math.inf) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and 0.0 < value <= upper):
        if math.isinf(upper):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
        raise ValueError(f"{name} must be in (0, {upper:g}], got {value!r}.")


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Limits the candidate must respect against control; ``None`` switches a guardrail off.

    A guardrail is *breached* when a confidence sequence shows the limit is exceeded, which
    rolls the experiment back; while only the point estimate exceeds it, promotion waits.

    - ``max_quality_drop``: control's mean quality score minus the candidate's (absolute).
    - ``max_cost_ratio``: candidate mean cost per request divided by control's.
    - ``max_latency_p95_ratio``: candidate latency p95 divided by control's.
    - ``max_error_rate_increase``: candidate error rate minus control's (absolute).

    >>> Guardrails(max_cost_ratio=1.5).max_cost_ratio
    1.5
    >>> Guardrails(max_cost_ratio=0.0)
    Traceback (most recent call last):
    ...
    ValueError: max_cost_ratio must be a positive finite number, got 0.0.
    """

    max_quality_drop: float | None = None
    max_cost_ratio: float | None = None
    max_latency_p95_ratio: float | None = None
    max_error_rate_increase: float | None = None

    def __post_init__(self) -> None:
        _check_positive("max_quality_drop", self.max_quality_drop, upper=1.0)
        _check_positive("max_cost_ratio", self.max_cost_ratio)
        _check_positive("max_latency_p95_ratio", self.max_latency_p95_ratio)
        _check_positive("max_error_rate_increase", self.max_error_rate_increase, upper=1.0)


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """A candidate model gated through traffic stages on one policy.

    ``margin`` is the non-inferiority margin on reward (absolute, reward units): the candidate
    is promoted once its mean reward is shown to be above control's minus ``margin``.
    ``min_feedback_per_stage`` counts feedback gathered *since the current stage began*.

    >>> ExperimentSpec("default", "new-model").stages
    (0.1, 0.25, 0.5, 1.0)
    >>> ExperimentSpec("default", "new-model", mode="replace")
    Traceback (most recent call last):
    ...
    ValueError: Mode 'replace' needs the incumbent model it replaces in replaces.
    """

    policy: str
    candidate: str
    stages: tuple[float, ...] = DEFAULT_STAGES
    min_feedback_per_stage: int = 200
    margin: float = 0.02
    alpha: float = 0.05
    mode: Mode = "add"
    replaces: str | None = None
    guardrails: Guardrails = Guardrails()

    def __post_init__(self) -> None:
        if not self.policy:
            raise ValueError("An experiment needs a non-empty policy name.")
        if not self.candidate:
            raise ValueError("An experiment needs a non-empty candidate model id.")
        self._check_stages()
        if isinstance(self.min_feedback_per_stage, bool) or not (
            isinstance(self.min_feedback_per_stage, int) and self.min_feedback_per_stage >= 1
        ):
            raise ValueError(
                "min_feedback_per_stage must be a positive integer, "
                f"got {self.min_feedback_per_stage!r}."
            )
        if not (math.isfinite(self.margin) and self.margin > 0.0):
            raise ValueError(f"margin must be a positive finite number, got {self.margin!r}.")
        if not (math.isfinite(self.alpha) and 0.0 < self.alpha < 0.5):
            raise ValueError(f"alpha must be strictly between 0 and 0.5, got {self.alpha!r}.")
        self._check_mode()
        if not isinstance(self.guardrails, Guardrails):
            raise ValueError(f"guardrails must be a Guardrails value, got {self.guardrails!r}.")

    def share(self, stage_index: int) -> float:
        """The candidate's traffic share at ``stage_index``.

        >>> ExperimentSpec("default", "new-model").share(1)
        0.25
        """
        if not 0 <= stage_index < len(self.stages):
            raise ValueError(
                f"Stage index {stage_index} is outside the {len(self.stages)} stages of "
                f"the experiment on policy {self.policy!r}."
            )
        return self.stages[stage_index]

    def _check_stages(self) -> None:
        stages = self.stages
        if not isinstance(stages, tuple) or not stages:
            raise ValueError(f"stages must be a non-empty tuple of shares, got {stages!r}.")
        for share in stages:
            if not (math.isfinite(share) and 0.0 < share <= 1.0):
                raise ValueError(f"Stage share {share!r} must be in (0, 1].")
        if any(later <= earlier for earlier, later in itertools.pairwise(stages)):
            raise ValueError(f"stages must be strictly increasing, got {stages!r}.")
        if stages[-1] != 1.0:
            raise ValueError(f"The last stage must be full rollout (1.0), got {stages[-1]!r}.")

    def _check_mode(self) -> None:
        if self.mode == "add":
            if self.replaces is not None:
                raise ValueError(
                    f"Mode 'add' replaces no model, but replaces is {self.replaces!r}; "
                    "use mode 'replace' or leave replaces unset."
                )
        elif self.mode == "replace":
            if not self.replaces:
                raise ValueError(
                    "Mode 'replace' needs the incumbent model it replaces in replaces."
                )
            if self.replaces == self.candidate:
                raise ValueError(
                    f"Candidate {self.candidate!r} cannot replace itself; name an incumbent."
                )
        else:
            raise ValueError(f"Mode {self.mode!r} is not one of add, replace.")
