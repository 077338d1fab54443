"""Review sampling: which decisions a human reviews, and how to weigh their scores back.

A policy's ``ReviewSettings`` marks a sample of its decisions for review at decision time. The
draw is a hash of the decision id, not a random generator, so every process (and a replay)
agrees on the sample. Each sampled decision stores its inclusion probability ``pi``; a mean
of reviewer scores weighted by ``1/pi`` (Hajek) is then unbiased for the whole log even when
some models are reviewed far more often than others.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = [
    "DESIGNS",
    "MAX_PER_MODEL",
    "REVIEWER_SOURCE",
    "Design",
    "ReviewSettings",
    "hajek_mean",
    "review_draw",
    "sample_for_review",
]

Design = Literal["uniform", "stratified"]
DESIGNS: tuple[str, ...] = get_args(Design)
#: The feedback source of a human reviewer's score.
REVIEWER_SOURCE = "reviewer"
#: Bound on per-model rates (a policy routes among a few models; this is generous).
MAX_PER_MODEL = 256


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """How many of a policy's decisions go to review.

    ``uniform``: every decision with probability ``rate``. ``stratified``: a decision for model
    ``m`` with probability ``per_model[m]``, and ``rate`` for models not listed (a stratum per
    chosen model, so rare or new models can be reviewed more often). A rate of 0 everywhere is
    off, the default.

    >>> ReviewSettings(rate=0.1).probability("any-model")
    0.1
    >>> ReviewSettings(0.01, "stratified", {"new-model": 0.5}).probability("new-model")
    0.5
    >>> ReviewSettings(rate=1.5)
    Traceback (most recent call last):
    ...
    ValueError: review rate must be a number between 0 and 1, got 1.5.
    """

    rate: float = 0.0
    design: Design = "uniform"
    per_model: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"Review design {self.design!r} is not one of {', '.join(DESIGNS)}.")
        _check_rate("review rate", self.rate)
        if self.per_model and self.design != "stratified":
            raise ValueError(
                "review per_model rates apply to the stratified design only; "
                f"design is {self.design!r}."
            )
        if len(self.per_model) > MAX_PER_MODEL:
            raise ValueError(
                f"review per_model may list at most {MAX_PER_MODEL} models, "
                f"got {len(self.per_model)}."
            )
        for model, rate in self.per_model.items():
            _check_rate(f"review rate of model {model!r}", rate)

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or any(rate > 0 for rate in self.per_model.values())

    def probability(self, model: str) -> float:
        """The inclusion probability of a decision that chose ``model``."""
        if self.design == "stratified":
            return self.per_model.get(model, self.rate)
        return self.rate


def review_draw(decision_id: str) -> float:
    """A uniform number in [0, 1) fixed by the decision id (SHA-256, not ``hash()``).

    >>> review_draw("d-1") == review_draw("d-1")
    True
    >>> 0.0 <= review_draw("d-2") < 1.0
    True
    """
    digest = hashlib.sha256(b"review:" + decision_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sample_for_review(settings: ReviewSettings, decision_id: str, model: str) -> float | None:
    """The decision's inclusion probability when it is sampled for review, else None.

    >>> sample_for_review(ReviewSettings(rate=1.0), "d-1", "m")
    1.0
    >>> sample_for_review(ReviewSettings(), "d-1", "m") is None
    True
    """
    probability = settings.probability(model)
    if probability > 0 and review_draw(decision_id) < probability:
        return probability
    return None


def hajek_mean(scores: Sequence[float], probabilities: Sequence[float]) -> float:
    """The Hajek estimate of a population mean from a sample with inclusion probabilities.

    ``sum(y / pi) / sum(1 / pi)``: each reviewed decision stands for ``1/pi`` decisions of the
    log. Two models reviewed at 50 % and 5 % with qualities 0.9 and 0.2, one review each:

    >>> round(hajek_mean([0.9, 0.2], [0.5, 0.05]), 4)
    0.2636
    """
    if len(scores) != len(probabilities) or not scores:
        raise ValueError(
            f"hajek_mean needs as many probabilities as scores, at least one; got "
            f"{len(scores)} scores and {len(probabilities)} probabilities."
        )
    for p in probabilities:
        if not (math.isfinite(p) and 0 < p <= 1):
            raise ValueError(f"An inclusion probability must lie in (0, 1], got {p!r}.")
    weights = [1.0 / p for p in probabilities]
    return math.fsum(w * y for w, y in zip(weights, scores, strict=True)) / math.fsum(weights)


def _check_rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
