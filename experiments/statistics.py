r"""Running per-arm statistics and always-valid confidence sequences.

The reward test compares the candidate's mean with control's through the *normal-mixture
confidence sequence* (Robbins; Howard et al. 2021; the asymptotic form of Waudby-Smith et al.
2023, which is also the two-sample mSPRT of Johari et al. 2017). With an estimate
:math:`\hat\Delta_t` of :math:`\Delta` whose plug-in variance is :math:`v_t`
(:math:`\hat\sigma^2_c / n_c + \hat\sigma^2_k / n_k` for a difference of means), and a mixing
variance :math:`\tau^2`, the mixture likelihood ratio against :math:`\Delta = \theta` is

.. math::

    \Lambda_t(\theta) = \sqrt{\frac{v_t}{v_t + \tau^2}}
        \exp\left(\frac{\tau^2 (\hat\Delta_t - \theta)^2}{2 v_t (v_t + \tau^2)}\right)

and :math:`\{\theta : \Lambda_t(\theta) < 1/\alpha\}` is the interval
:math:`\hat\Delta_t \pm \sqrt{\frac{v_t (v_t + \tau^2)}{\tau^2}
\left(\log\frac{v_t + \tau^2}{v_t} + 2 \log\frac{1}{\alpha}\right)}`.
By Ville's inequality the true :math:`\Delta` leaves it at *any* look with probability at most
:math:`\alpha` (asymptotically, with plug-in variances; the efficient-score process of a
difference of means has independent increments whatever the allocation, so traffic stages with
different shares do not break it). :math:`\Lambda_t(\theta)` is the e-value and
:math:`\min(1, 1/\Lambda_t(\theta))` the always-valid p-value.

The tuning parameter :math:`\tau^2` sets the look at which the interval is narrowest:
:math:`\tau^2 = c(\alpha)\, v^*` with :math:`c(\alpha) = 2\log(1/\alpha) +
\log(1 + 2\log(1/\alpha))` makes it narrowest when :math:`v_t = v^*` (Waudby-Smith et al.).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "SRM_CONCENTRATION",
    "ArmAccumulator",
    "ArmStats",
    "ConfidenceSequence",
    "Moments",
    "difference_sequence",
    "mixing_variance",
    "normal_mixture_sequence",
    "quantile_bounds",
    "sample_ratio_mismatch",
]


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, mean and sum of squared deviations of a stream (Welford's algorithm).

    >>> m = Moments().add(1.0).add(2.0).add(3.0)
    >>> m.n, m.mean, m.variance
    (3, 2.0, 1.0)
    """

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    @property
    def variance(self) -> float:
        """The sample variance (``n - 1`` denominator); 0 below two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0

    def add(self, value: float) -> Moments:
        """These moments with ``value`` added."""
        if not math.isfinite(value):
            raise ValueError(f"Observed value {value!r} must be a finite number.")
        n = self.n + 1
        delta = value - self.mean
        mean = self.mean + delta / n
        return Moments(n, mean, self.m2 + delta * (value - mean))

    def merge(self, other: Moments) -> Moments:
        """The moments of both streams together (Chan et al.'s parallel update).

        >>> Moments().add(1.0).merge(Moments().add(3.0)) == Moments().add(1.0).add(3.0)
        True
        """
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    @classmethod
    def of(cls, values: Iterable[float]) -> Moments:
        """The moments of ``values``."""
        moments = cls()
        for value in values:
            moments = moments.add(value)
        return moments


@dataclass(frozen=True, slots=True)
class ArmStats:
    """What one arm has shown so far: one value per feedback-joined decision.

    ``errors`` holds 0/1 error indicators, so ``errors.mean`` is the error rate.
    ``latencies_ms`` is every latency seen, sorted (exact quantiles; memory grows with n).
    """

    reward: Moments = Moments()
    quality: Moments = Moments()
    cost_usd: Moments = Moments()
    errors: Moments = Moments()
    latencies_ms: tuple[float, ...] = ()

    @property
    def n(self) -> int:
        """Number of observations (rewards) of the arm."""
        return self.reward.n

    @property
    def error_rate(self) -> float:
        """Share of observations that reported an error (0 when there are none)."""
        return self.errors.mean

    @property
    def latency_p95(self) -> float:
        """Nearest-rank 95th percentile of latency; NaN without latencies.

        >>> ArmStats(latencies_ms=tuple(float(i) for i in range(1, 101))).latency_p95
        95.0
        """
        n = len(self.latencies_ms)
        if n == 0:
            return math.nan
        return self.latencies_ms[max(0, math.ceil(0.95 * n) - 1)]


@dataclass(slots=True)
class ArmAccumulator:
    """Mutable running statistics of one arm; ``stats()`` takes a frozen snapshot.

    >>> arm = ArmAccumulator()
    >>> arm.add(0.8, quality=0.9, cost_usd=0.002, latency_ms=420.0)
    >>> arm.add(0.2, error=True)
    >>> s = arm.stats()
    >>> s.n, s.error_rate, s.quality.n, s.latency_p95
    (2, 0.5, 1, 420.0)
    """

    _reward: Moments = field(default_factory=Moments)
    _quality: Moments = field(default_factory=Moments)
    _cost: Moments = field(default_factory=Moments)
    _errors: Moments = field(default_factory=Moments)
    _latencies: list[float] = field(default_factory=list)

    def add(
        self,
        reward: float,
        *,
        quality: float | None = None,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
        error: bool = False,
    ) -> None:
        """Record one feedback-joined decision of this arm."""
        # Validate everything before changing anything, so a bad value leaves no half-update.
        for name, value in (("quality", quality), ("cost_usd", cost_usd), ("latency", latency_ms)):
            if value is not None and not math.isfinite(value):
                raise ValueError(f"Observed {name} {value!r} must be a finite number.")
        self._reward = self._reward.add(reward)
        if quality is not None:
            self._quality = self._quality.add(quality)
        if cost_usd is not None:
            self._cost = self._cost.add(cost_usd)
        if latency_ms is not None:
            bisect.insort(self._latencies, latency_ms)
        self._errors = self._errors.add(1.0 if error else 0.0)

    def stats(self) -> ArmStats:
        """A frozen snapshot of everything recorded so far."""
        return ArmStats(
            self._reward, self._quality, self._cost, self._errors, tuple(self._latencies)
        )


@dataclass(frozen=True, slots=True)
class ConfidenceSequence:
    """One look at an always-valid interval for a parameter, with the test of ``null``.

    ``e_value`` is the mixture likelihood ratio against ``parameter == null``;
    ``p_value = min(1, 1 / e_value)`` is valid under any number of looks (the running
    minimum over looks is valid too).
    """

    estimate: float
    lower: float
    upper: float
    null: float
    e_value: float
    p_value: float
    alpha: float


def mixing_variance(design_variance: float, alpha: float) -> float:
    """The mixing variance that makes the sequence narrowest when the estimate's variance
    equals ``design_variance``: ``c(alpha) * design_variance``.

    >>> round(mixing_variance(1.0, 0.05), 3)
    7.936
    """
    log_inverse = 2.0 * math.log(1.0 / alpha)
    return (log_inverse + math.log1p(log_inverse)) * design_variance


def normal_mixture_sequence(
    estimate: float, variance: float, *, alpha: float, mixing_variance: float, null: float = 0.0
) -> ConfidenceSequence:
    """The normal-mixture interval around ``estimate`` and the e-value against ``null``.

    ``variance`` is the (plug-in) variance of ``estimate``; see the module docstring. A zero
    variance means the data show no spread, so the interval shrinks to the estimate.

    >>> cs = normal_mixture_sequence(0.1, 0.0004, alpha=0.05, mixing_variance=0.003)
    >>> round(cs.lower, 4), round(cs.upper, 4), cs.p_value < 0.05
    (0.0393, 0.1607, True)
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}.")
    if not (math.isfinite(estimate) and math.isfinite(variance) and variance >= 0.0):
        raise ValueError(
            f"Estimate {estimate!r} and variance {variance!r} must be finite, the variance >= 0."
        )
    if variance == 0.0 or mixing_variance <= 0.0:
        e_value = 1.0 if estimate == null else math.inf
        return ConfidenceSequence(
            estimate, estimate, estimate, null, e_value, min(1.0, 1.0 / e_value), alpha
        )
    total = variance + mixing_variance
    half_width = math.sqrt(
        variance * total / mixing_variance * (math.log(total / variance) + 2 * math.log(1 / alpha))
    )
    log_e = 0.5 * math.log(variance / total) + mixing_variance * (estimate - null) ** 2 / (
        2.0 * variance * total
    )
    return ConfidenceSequence(
        estimate=estimate,
        lower=estimate - half_width,
        upper=estimate + half_width,
        null=null,
        e_value=math.exp(min(log_e, 700.0)),
        p_value=min(1.0, math.exp(-log_e)),
        alpha=alpha,
    )


def difference_sequence(
    candidate: Moments,
    control: Moments,
    *,
    alpha: float,
    design_counts: tuple[int, int],
    control_weight: float = 1.0,
    null: float = 0.0,
) -> ConfidenceSequence:
    """The sequence for ``candidate.mean - control_weight * control.mean``.

    Plug-in variance ``var_c / n_c + w**2 var_k / n_k``; the mixing variance is tuned to be
    narrowest at ``design_counts = (n_c*, n_k*)`` observations, evaluated with the current
    sample variances (which converge, so the mixture settles; Waudby-Smith et al.).
    ``control_weight`` turns a ratio limit into a linear one: ``mean_c / mean_k <= r`` iff
    ``mean_c - r * mean_k <= 0``.
    """
    if candidate.n < 1 or control.n < 1:
        raise ValueError(
            f"A difference needs observations in both arms, got {candidate.n} and {control.n}."
        )
    design_c, design_k = design_counts
    if design_c < 1 or design_k < 1:
        raise ValueError(f"Design counts {design_counts!r} must both be positive.")
    w2 = control_weight * control_weight
    variance = candidate.variance / candidate.n + w2 * control.variance / control.n
    design = candidate.variance / design_c + w2 * control.variance / design_k
    return normal_mixture_sequence(
        candidate.mean - control_weight * control.mean,
        variance,
        alpha=alpha,
        mixing_variance=mixing_variance(design, alpha),
        null=null,
    )


def quantile_bounds(
    sorted_values: Sequence[float], quantile: float, *, alpha: float, design_count: int
) -> tuple[float, float]:
    """An always-valid interval for the ``quantile`` of the distribution behind the values.

    At the true quantile ``q`` the count of values ``<= q`` is Binomial(n, quantile) (for a
    continuous distribution), so the normal-mixture sequence for a proportion, with its exact
    variance ``quantile * (1 - quantile) / n``, brackets that count; the order statistics at
    the bracket's ends bound ``q``. Unbounded ends are ``-inf`` / ``inf``.

    >>> quantile_bounds([float(i) for i in range(1, 1001)], 0.5, alpha=0.05, design_count=100)
    (449.0, 552.0)
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"Quantile {quantile!r} must be strictly between 0 and 1.")
    n = len(sorted_values)
    if n == 0:
        return -math.inf, math.inf
    spread = quantile * (1.0 - quantile)
    half = normal_mixture_sequence(
        quantile,
        spread / n,
        alpha=alpha,
        mixing_variance=mixing_variance(spread / design_count, alpha),
    )
    # count(<= q) > n * lower  =>  the floor(n * lower) + 1-th value is <= q;
    # count(<= q) < n * upper  =>  the floor(n * upper) + 1-th value is > q.
    low_rank = math.floor(n * half.lower) + 1
    high_rank = math.floor(n * half.upper) + 1
    low = sorted_values[low_rank - 1] if low_rank >= 1 else -math.inf
    high = sorted_values[high_rank - 1] if high_rank <= n else math.inf
    return low, high


#: Prior weight of the Dirichlet mixture behind the sequential SRM test, in pseudo-units
#: spread as the expected split: large enough that a handful of units proves nothing, small
#: enough that a real mismatch of a few points shows within a stage of a few thousand units.
SRM_CONCENTRATION = 100.0


def sample_ratio_mismatch(n_candidate: int, n_control: int, share: float) -> float:
    """An always-valid p-value that the units were split ``share : 1 - share``.

    The stage rule looks at the split after every learning round, hundreds of times a stage;
    a fixed-sample test (chi-squared) repeated that often pauses a healthy experiment now and
    then (1.9-4.8% of healthy stages at p < 0.001, with looks every 1-50 units). This is the
    sequential test of Lindon and Malek (2020, "Anytime-valid inference for multinomial count
    data"): the Bayes factor of a Dirichlet(``SRM_CONCENTRATION`` x split) mixture against
    the expected split is a test martingale under a correct split, so by Ville's inequality
    the chance that ``1 / BF`` ever falls below ``alpha``, however often it is looked at, is
    at most ``alpha``.

    >>> sample_ratio_mismatch(100, 900, 0.10)
    1.0
    >>> sample_ratio_mismatch(260, 1740, 0.10) < 0.001
    True
    """
    if n_candidate < 0 or n_control < 0:
        raise ValueError(f"Decision counts {n_candidate} and {n_control} must not be negative.")
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"Traffic share {share!r} must be in [0, 1].")
    if n_candidate + n_control == 0:
        return 1.0
    # At share 0 or 1 one arm expects nothing: any decision there is a broken split.
    if share == 1.0:
        return 1.0 if n_control == 0 else 0.0
    if share == 0.0:
        return 1.0 if n_candidate == 0 else 0.0
    prior_candidate, prior_control = SRM_CONCENTRATION * share, SRM_CONCENTRATION * (1 - share)
    log_bayes_factor = (
        _log_beta(prior_candidate + n_candidate, prior_control + n_control)
        - _log_beta(prior_candidate, prior_control)
        - n_candidate * math.log(share)
        - n_control * math.log(1.0 - share)
    )
    return 1.0 if log_bayes_factor <= 0.0 else math.exp(-log_bayes_factor)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
