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
    "ModelQuality",
    "ReviewSettings",
    "ReviewedDecision",
    "hajek_mean",
    "review_draw",
    "reviewed_quality",
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


@dataclass(frozen=True, slots=True)
class ReviewedDecision:
    """A sampled decision with its reviewers' scores (at least one)."""

    model: str
    #: Its inclusion probability in the review sample.
    probability: float
    scores: tuple[float, ...]

    @property
    def score(self) -> float:
        """The reviewers' mean score."""
        return math.fsum(self.scores) / len(self.scores)


@dataclass(frozen=True, slots=True)
class ModelQuality:
    """Mean reviewer quality of a group of decisions: the reviewed ones' plain mean, and the
    Hajek estimate for every decision of the group, which weighs each review by ``1/pi``."""

    reviewed: int
    naive_mean: float
    estimate: float


def reviewed_quality(
    decisions: Sequence[ReviewedDecision],
) -> tuple[ModelQuality | None, dict[str, ModelQuality]]:
    """Quality of the whole policy and per model; the policy's is None without reviews.

    Sampled decisions nobody reviewed yet are missing, taken as missing at random within
    their model; the estimate is unbiased when the reviewed ones are the sample.

    >>> overall, per_model = reviewed_quality(
    ...     [ReviewedDecision("a", 0.5, (1.0,)), ReviewedDecision("b", 0.1, (0.0, 0.5))]
    ... )
    >>> overall.naive_mean, round(overall.estimate, 4), per_model["b"].estimate
    (0.625, 0.375, 0.25)
    """
    if not decisions:
        return None, {}
    by_model: dict[str, list[ReviewedDecision]] = {}
    for decision in decisions:
        by_model.setdefault(decision.model, []).append(decision)
    return _quality(decisions), {m: _quality(group) for m, group in sorted(by_model.items())}


def _quality(decisions: Sequence[ReviewedDecision]) -> ModelQuality:
    scores = [d.score for d in decisions]
    return ModelQuality(
        reviewed=len(decisions),
        naive_mean=math.fsum(scores) / len(scores),
        estimate=hajek_mean(scores, [d.probability for d in decisions]),
    )


def _check_rate(name: str, value: float) -> None:
    if isinstance(value, bool) or not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
