"""Off-policy estimators recover a known target value from seeded synthetic logs.

The world: a context is one of two tasks (equally likely), three arms, Bernoulli rewards with
known means per (task, arm), and a logging policy with a known pmf per task. A target policy's
true value is then ``sum_task 0.5 * sum_arm pi(arm | task) * mean(task, arm)``, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest

from bandit.errors import InvalidInputError
from bandit.ope import Estimate, LoggedDecision, TargetPmf, doubly_robust, ips, snips
from bandit.types import Arm, Context, Namespace

ARMS = (Arm("a"), Arm("b"), Arm("c"))
TASKS = ("code", "chat")
CONTEXTS = {task: Context((Namespace("caller", ((f"task={task}", 1.0),)),)) for task in TASKS}
MEANS = {"code": (0.8, 0.5, 0.2), "chat": (0.3, 0.5, 0.7)}
LOGGING = {"code": (0.6, 0.2, 0.2), "chat": (0.2, 0.2, 0.6)}
# Favours the worse arms, so its weights reach 4 and its value is far from the logged mean.
REVERSED = {"code": (0.1, 0.1, 0.8), "chat": (0.8, 0.1, 0.1)}
UNIFORM = dict.fromkeys(TASKS, (1 / 3, 1 / 3, 1 / 3))

Estimator = Callable[..., Estimate]
ESTIMATORS: list[Estimator] = [ips, snips, doubly_robust]


def task_of(context: Context) -> str:
    return context.namespaces[0].features[0][0].removeprefix("task=")


def policy(table: Mapping[str, Sequence[float]]) -> TargetPmf:
    def target_pmf(context: Context, arms: tuple[Arm, ...]) -> Sequence[float]:
        return table[task_of(context)]

    return target_pmf


def true_value(table: Mapping[str, Sequence[float]]) -> float:
    return sum(0.5 * sum(p * m for p, m in zip(table[t], MEANS[t], strict=True)) for t in TASKS)


def synthetic_log(seed: int, n: int = 600, *, noise: bool = True) -> list[LoggedDecision]:
    """Bernoulli rewards, or with ``noise=False`` the mean reward itself."""
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(n):
        task = TASKS[int(rng.integers(2))]
        chosen = int(rng.choice(3, p=LOGGING[task]))
        mean = MEANS[task][chosen]
        reward = float(rng.random() < mean) if noise else mean
        log.append(LoggedDecision(CONTEXTS[task], ARMS, chosen, LOGGING[task][chosen], reward))
    return log


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize("table", [REVERSED, UNIFORM], ids=["reversed", "uniform"])
def test_interval_covers_the_true_value_in_at_least_90_of_100_seeds(
    estimator: Estimator, table: Mapping[str, Sequence[float]]
) -> None:
    truth = true_value(table)
    covered = 0
    for seed in range(100):
        estimate = estimator(synthetic_log(seed), policy(table), resamples=200, seed=seed)
        lower, upper = _interval(estimate)
        assert lower <= estimate.value <= upper
        covered += lower <= truth <= upper
    assert covered >= 90


def test_estimates_of_the_logging_policy_match_the_observed_mean_reward() -> None:
    log = synthetic_log(1)
    observed = float(np.mean([row.reward for row in log]))
    # Every weight is p / p == 1 exactly, so IPS and SNIPS are the plain mean.
    assert ips(log, policy(LOGGING), resamples=50).value == pytest.approx(observed, abs=1e-12)
    assert snips(log, policy(LOGGING), resamples=50).value == pytest.approx(observed, abs=1e-12)
    assert doubly_robust(log, policy(LOGGING), resamples=50).value == pytest.approx(
        observed, abs=0.02
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_effective_sample_size_is_n_on_policy_and_drops_off_policy(estimator: Estimator) -> None:
    log = synthetic_log(2)
    on_policy = estimator(log, policy(LOGGING), resamples=20)
    off_policy = estimator(log, policy(REVERSED), resamples=20)
    assert on_policy.n == off_policy.n == len(log)
    assert on_policy.effective_sample_size == pytest.approx(len(log))
    assert off_policy.effective_sample_size < 0.5 * len(log)
    assert on_policy.method == off_policy.method == estimator.__name__


def test_snips_stays_within_the_reward_range() -> None:
    rng = np.random.default_rng(3)
    for seed in range(20):
        log = [
            LoggedDecision(
                row.context, row.arms, row.chosen, row.propensity, float(rng.uniform(-2.0, 5.0))
            )
            for row in synthetic_log(seed, n=50)
        ]
        rewards = [row.reward for row in log]
        for table in (REVERSED, UNIFORM, dict.fromkeys(TASKS, (0.0, 0.0, 1.0))):
            estimate = snips(log, policy(table), resamples=50, seed=seed)
            lower, upper = _interval(estimate)
            assert min(rewards) <= lower <= estimate.value <= upper
            assert upper <= max(rewards)


def test_doubly_robust_is_tighter_than_ips_when_the_reward_model_explains_the_reward() -> None:
    # Without reward noise IPS still varies with the weights; the direct method absorbs that.
    widths = {ips: 0.0, doubly_robust: 0.0}
    for seed in range(10):
        log = synthetic_log(seed, noise=False)
        for estimator in widths:
            estimate = estimator(log, policy(REVERSED), resamples=200, seed=seed)
            lower, upper = _interval(estimate)
            widths[estimator] += upper - lower
    assert widths[doubly_robust] < 0.5 * widths[ips]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_estimates_are_reproducible_from_the_seed(estimator: Estimator) -> None:
    log = synthetic_log(4, n=200)
    first = estimator(log, policy(REVERSED), resamples=100, seed=7)
    assert estimator(log, policy(REVERSED), resamples=100, seed=7) == first
    assert estimator(log, policy(REVERSED), resamples=100, seed=8) != first


def test_doubly_robust_scores_arms_never_chosen_and_a_single_row() -> None:
    newcomer = (*ARMS, Arm("new"))
    log = [
        LoggedDecision(row.context, newcomer, row.chosen, row.propensity, row.reward)
        for row in synthetic_log(5, n=100)
    ]
    only_new = doubly_robust(log, lambda context, arms: (0.0, 0.0, 0.0, 1.0), resamples=20)
    # No row chose "new": the direct method falls back to the mean reward, and no weight is set.
    assert only_new.value == pytest.approx(np.mean([row.reward for row in log]), abs=0.05)
    assert only_new.effective_sample_size == 0.0
    single = doubly_robust(synthetic_log(5, n=1), policy(LOGGING), resamples=5)
    assert single.n == 1
    assert math.isfinite(single.value)


@pytest.mark.parametrize(
    ("chosen", "propensity", "reward", "message"),
    [
        (0, 0.0, 1.0, "Propensity 0.0"),
        (0, 1.5, 1.0, "Propensity 1.5"),
        (0, -0.1, 1.0, "Propensity -0.1"),
        (0, math.nan, 1.0, "Propensity nan"),
        (0, 0.5, math.nan, "Reward nan"),
        (0, 0.5, math.inf, "Reward inf"),
        (3, 0.5, 1.0, "Chosen index 3"),
        (-1, 0.5, 1.0, "Chosen index -1"),
    ],
)
def test_logged_decision_rejects_bad_values(
    chosen: int, propensity: float, reward: float, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        LoggedDecision(Context(), ARMS, chosen, propensity, reward)


def test_logged_decision_rejects_empty_or_repeated_arms() -> None:
    with pytest.raises(InvalidInputError, match="at least one candidate"):
        LoggedDecision(Context(), (), 0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match="repeat an arm id"):
        LoggedDecision(Context(), (Arm("a"), Arm("a")), 0, 0.5, 1.0)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
@pytest.mark.parametrize(
    ("pmf", "message"),
    [
        ((0.5, 0.5), "returned 2 probabilities for 3"),
        ((1.2, -0.1, -0.1), "negative or non-finite"),
        ((math.nan, 0.5, 0.5), "negative or non-finite"),
        ((0.5, 0.2, 0.2), "sums to"),
    ],
)
def test_estimators_reject_a_malformed_target_pmf(
    estimator: Estimator, pmf: tuple[float, ...], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        estimator(synthetic_log(6, n=10), lambda context, arms: pmf)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: e.__name__)
def test_estimators_reject_an_empty_log_and_bad_bootstrap_settings(estimator: Estimator) -> None:
    with pytest.raises(InvalidInputError, match="at least one logged decision"):
        estimator([], policy(LOGGING))
    log = synthetic_log(7, n=10)
    with pytest.raises(InvalidInputError, match=r"Confidence level 1\.0"):
        estimator(log, policy(LOGGING), confidence=1.0)
    with pytest.raises(InvalidInputError, match="at least one resample, not 0"):
        estimator(log, policy(LOGGING), resamples=0)


def test_snips_rejects_a_target_that_never_agrees_with_the_log() -> None:
    log = [row for row in synthetic_log(8, n=50) if row.chosen != 2]
    with pytest.raises(InvalidInputError, match="SNIPS is undefined"):
        snips(log, lambda context, arms: (0.0, 0.0, 1.0))


def test_doubly_robust_rejects_a_bad_reward_model_setting() -> None:
    log = synthetic_log(9, n=10)
    with pytest.raises(InvalidInputError, match="at least one dimension, not 0"):
        doubly_robust(log, policy(LOGGING), dimensions=0)
    with pytest.raises(InvalidInputError, match=r"ridge penalty 0\.0 must be positive"):
        doubly_robust(log, policy(LOGGING), l2=0.0)


def _interval(estimate: Estimate) -> tuple[float, float]:
    assert estimate.lower is not None
    assert estimate.upper is not None
    return estimate.lower, estimate.upper
