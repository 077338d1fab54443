"""Off-policy estimates of a target policy's mean reward from a log of rewarded decisions.

Three estimators share one input, a sequence of :class:`LoggedDecision` rows (``n`` rows), and
one target policy given as a function ``target_pmf(context, arms) -> pmf`` (any
``Policy.predict`` fits). With importance weights ``w_i = pi(a_i | x_i) / p_i``:

- :func:`ips`: ``mean(w * r)``; unbiased, high variance when ``w`` is large.
- :func:`snips`: ``sum(w * r) / sum(w)``; slightly biased, always within the reward range.
- :func:`doubly_robust`: ``mean(sum_a pi(a | x) q(x, a) + w * (r - q(x, a_i)))`` with a
  direct-method reward model ``q`` (hashed context, one ridge per arm id) cross-fitted in two
  folds, so no row's correction uses a model that saw that row.

Confidence intervals are percentile bootstraps over the rows, seeded by ``seed``. The bootstrap,
rather than an empirical Bernstein bound, because it serves all three estimators the same way
(SNIPS is a ratio, which Bernstein does not cover directly) and adapts to the weights actually
observed, whereas Bernstein needs an a-priori bound on ``w * r`` (``1 / min propensity``) and is
very wide with small propensities. Its caveat: with heavy-tailed weights and few rows it
undercovers, so read it next to the effective sample size ``(sum w)^2 / sum w^2``. The doubly
robust interval holds the cross-fitted reward model fixed across resamples.

>>> from bandit.types import Arm, Context
>>> arms = (Arm("a"), Arm("b"))
>>> log = [LoggedDecision(Context(), arms, i % 2, 0.5, float(i % 2)) for i in range(10)]
>>> always_b = lambda context, arms: (0.0, 1.0)
>>> ips(log, always_b, resamples=50).value
1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from bandit.errors import InvalidInputError
from bandit.supervised import FeatureHasher
from bandit.types import Arm, Context

__all__ = [
    "Estimate",
    "LoggedDecision",
    "Method",
    "TargetPmf",
    "doubly_robust",
    "ips",
    "snips",
]

#: A target policy: one probability per candidate arm, in candidate order.
TargetPmf = Callable[[Context, tuple[Arm, ...]], Sequence[float]]
Method = Literal["ips", "snips", "doubly_robust"]

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]

_PMF_TOLERANCE = 1e-6
# Bootstrap index matrices are drawn in chunks of at most this many cells to bound memory.
_BOOTSTRAP_CELLS = 2_000_000


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    """One rewarded decision; ``propensity`` is the chosen arm's probability when it was logged."""

    context: Context
    arms: tuple[Arm, ...]
    chosen: int
    propensity: float
    reward: float

    def __post_init__(self) -> None:
        if not self.arms:
            raise InvalidInputError("A logged decision needs at least one candidate arm.")
        ids = [arm.id for arm in self.arms]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"The candidate arms {ids!r} repeat an arm id.")
        if not 0 <= self.chosen < len(self.arms):
            raise InvalidInputError(
                f"Chosen index {self.chosen} is outside the {len(self.arms)} candidate arms."
            )
        if not 0.0 < self.propensity <= 1.0:
            raise InvalidInputError(f"Propensity {self.propensity!r} must be in (0, 1].")
        if not math.isfinite(self.reward):
            raise InvalidInputError(f"Reward {self.reward!r} must be a finite number.")


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate of the target's mean reward with a bootstrap interval ``[lower, upper]``.

    ``effective_sample_size`` is ``(sum w)^2 / sum w^2``: ``n`` when the target is the logging
    policy, smaller the more the two diverge.
    """

    value: float
    #: None when no resample defines the estimate (each left out every row the target
    #: weighs, as happens on a small or one-sided log).
    lower: float | None
    upper: float | None
    effective_sample_size: float
    n: int
    method: Method


def ips(
    log: Sequence[LoggedDecision],
    target_pmf: TargetPmf,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Inverse propensity scoring: ``mean(w * r)`` over the ``n`` rows."""
    _check_bootstrap(confidence, resamples)
    weights = _weights(log, _target_pmfs(log, target_pmf))
    terms = weights * _rewards(log)
    lower, upper = _bootstrap_mean(terms, confidence, resamples, seed)
    return Estimate(
        value=float(terms.mean()),
        lower=lower,
        upper=upper,
        effective_sample_size=_effective_sample_size(weights),
        n=len(log),
        method="ips",
    )


def snips(
    log: Sequence[LoggedDecision],
    target_pmf: TargetPmf,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Self-normalised IPS: ``sum(w * r) / sum(w)``; fails when every weight is zero."""
    _check_bootstrap(confidence, resamples)
    weights = _weights(log, _target_pmfs(log, target_pmf))
    if not weights.sum() > 0.0:
        raise InvalidInputError(
            "The target policy gives probability zero to every logged choice, so SNIPS is "
            "undefined on this log."
        )
    terms = weights * _rewards(log)
    lower, upper = _bootstrap_ratio(terms, weights, confidence, resamples, seed)
    return Estimate(
        value=float(terms.sum() / weights.sum()),
        lower=lower,
        upper=upper,
        effective_sample_size=_effective_sample_size(weights),
        n=len(log),
        method="snips",
    )


def doubly_robust(
    log: Sequence[LoggedDecision],
    target_pmf: TargetPmf,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    dimensions: int = 256,
    l2: float = 1.0,
) -> Estimate:
    """Doubly robust: the direct-method value plus the IPS-weighted residual of the chosen arm.

    The reward model hashes each context into ``dimensions`` columns and fits one ridge (penalty
    ``l2``) per arm id on the rows that chose it, in two folds (even and odd rows): each row is
    scored by the model fitted on the other fold. An arm id never chosen in a fold is scored with
    that fold's mean reward.
    """
    _check_bootstrap(confidence, resamples)
    if dimensions < 1:
        raise InvalidInputError(f"The reward model needs at least one dimension, not {dimensions}.")
    if not l2 > 0.0:
        raise InvalidInputError(f"The ridge penalty {l2!r} must be positive.")
    pmfs = _target_pmfs(log, target_pmf)
    weights = _weights(log, pmfs)
    rewards = _rewards(log)
    predictions = _cross_fitted_predictions(log, rewards, dimensions, l2)
    terms = np.empty(len(log))
    for i, (row, pmf, q) in enumerate(zip(log, pmfs, predictions, strict=True)):
        terms[i] = float(pmf @ q) + weights[i] * (row.reward - q[row.chosen])
    lower, upper = _bootstrap_mean(terms, confidence, resamples, seed)
    return Estimate(
        value=float(terms.mean()),
        lower=lower,
        upper=upper,
        effective_sample_size=_effective_sample_size(weights),
        n=len(log),
        method="doubly_robust",
    )


def _check_bootstrap(confidence: float, resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidInputError(f"Confidence level {confidence!r} must be in (0, 1).")
    if resamples < 1:
        raise InvalidInputError(f"The bootstrap needs at least one resample, not {resamples}.")


def _target_pmfs(log: Sequence[LoggedDecision], target_pmf: TargetPmf) -> list[Vector]:
    """One validated target pmf per row, each of shape ``(len(row.arms),)``."""
    if not log:
        raise InvalidInputError("An off-policy estimate needs at least one logged decision.")
    pmfs = []
    for row in log:
        pmf = np.asarray(target_pmf(row.context, row.arms), dtype=np.float64)
        if pmf.shape != (len(row.arms),):
            raise InvalidInputError(
                f"The target policy returned {pmf.size} probabilities for "
                f"{len(row.arms)} candidate arms."
            )
        if not (np.all(np.isfinite(pmf)) and np.all(pmf >= 0.0)):
            raise InvalidInputError(
                f"The target policy returned {pmf.tolist()!r}, which has a negative or "
                "non-finite probability."
            )
        if abs(pmf.sum() - 1.0) > _PMF_TOLERANCE:
            raise InvalidInputError(
                f"The target policy returned {pmf.tolist()!r}, which sums to {pmf.sum()!r}, not 1."
            )
        pmfs.append(pmf)
    return pmfs


def _weights(log: Sequence[LoggedDecision], pmfs: Sequence[Vector]) -> Vector:
    """Importance weights ``pi(a_i | x_i) / p_i``, shape ``(n,)``."""
    return np.array(
        [pmf[row.chosen] / row.propensity for row, pmf in zip(log, pmfs, strict=True)],
        dtype=np.float64,
    )


def _rewards(log: Sequence[LoggedDecision]) -> Vector:
    return np.array([row.reward for row in log], dtype=np.float64)


def _effective_sample_size(weights: Vector) -> float:
    squares = float(np.square(weights).sum())
    return float(weights.sum()) ** 2 / squares if squares > 0.0 else 0.0


def _bootstrap_indices(n: int, resamples: int, seed: int) -> list[npt.NDArray[np.int64]]:
    """Row indices of every resample, in chunks of shape ``(chunk, n)``."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    return [
        rng.integers(0, n, size=(min(chunk, resamples - start), n))
        for start in range(0, resamples, chunk)
    ]


def _bootstrap_mean(
    terms: Vector, confidence: float, resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """Percentile interval of ``mean(terms)``; ``terms`` has shape ``(n,)``."""
    means = np.concatenate(
        [terms[idx].mean(axis=1) for idx in _bootstrap_indices(terms.size, resamples, seed)]
    )
    return _percentiles(means, confidence)


def _bootstrap_ratio(
    numerators: Vector, denominators: Vector, confidence: float, resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """Percentile interval of ``sum(numerators) / sum(denominators)``, both of shape ``(n,)``.

    Resamples whose denominator is zero have no ratio and are left out.
    """
    ratios = []
    for idx in _bootstrap_indices(numerators.size, resamples, seed):
        top = numerators[idx].sum(axis=1)
        bottom = denominators[idx].sum(axis=1)
        defined = bottom > 0.0
        ratios.append(top[defined] / bottom[defined])
    return _percentiles(np.concatenate(ratios), confidence)


def _percentiles(statistics: Vector, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval; (None, None) when no resample gave a statistic."""
    if statistics.size == 0:
        return None, None
    tail = 50.0 * (1.0 - confidence)
    lower, upper = np.percentile(statistics, [tail, 100.0 - tail])
    return float(lower), float(upper)


def _cross_fitted_predictions(
    log: Sequence[LoggedDecision], rewards: Vector, dimensions: int, l2: float
) -> list[Vector]:
    """Predicted reward of every candidate arm per row, each of shape ``(len(row.arms),)``.

    Rows are split into two folds by parity; a single row is scored in-sample.
    """
    features = FeatureHasher(dimensions=dimensions).transform([row.context for row in log])
    chosen_ids = np.array([row.arms[row.chosen].id for row in log], dtype=object)
    parity = np.arange(len(log)) % 2
    folds = [parity == 0, parity == 1] if len(log) >= 2 else [np.ones(1, dtype=bool)]
    predictions: list[Vector] = [np.empty(len(row.arms)) for row in log]
    for fold in folds:
        train = ~fold if len(folds) == 2 else fold
        baseline = float(rewards[train].mean())
        coefficients = {
            arm_id: _ridge(
                features[train & (chosen_ids == arm_id)],
                rewards[train & (chosen_ids == arm_id)] - baseline,
                l2,
            )
            for arm_id in sorted(set(chosen_ids[train].tolist()))
        }
        for i in np.flatnonzero(fold).tolist():
            row = features[i]
            predictions[i] = np.array(
                [
                    baseline
                    + (float(row @ coefficients[arm.id]) if arm.id in coefficients else 0.0)
                    for arm in log[i].arms
                ]
            )
    return predictions


def _ridge(features: Matrix, targets: Vector, l2: float) -> Vector:
    """Ridge coefficients of shape ``(d,)`` for ``features`` ``(m, d)`` and ``targets`` ``(m,)``.

    Solves the smaller of the primal ``(d, d)`` and the dual ``(m, m)`` systems.
    """
    rows, columns = features.shape
    if rows < columns:
        dual = np.linalg.solve(features @ features.T + l2 * np.eye(rows), targets)
        return np.asarray(features.T @ dual, dtype=np.float64)
    primal = np.linalg.solve(features.T @ features + l2 * np.eye(columns), features.T @ targets)
    return np.asarray(primal, dtype=np.float64)
