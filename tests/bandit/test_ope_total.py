"""Every estimator is total over any log the service can hold (issue 21): empty or one-sided
resamples, one model, one row, targets that never agree with the log. It returns an estimate
with a finite value (an interval, or none when no resample defines one), or refuses with an
``InvalidInputError`` sentence: never another exception, which the server would answer 500."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from bandit.errors import InvalidInputError
from bandit.ope import LoggedDecision, TargetPmf, doubly_robust, ips, snips
from bandit.types import Arm, Context, Namespace

ARMS = (Arm("a"), Arm("b"), Arm("c"))
CONTEXT = Context((Namespace("caller", (("task=x", 1.0),)),))


@st.composite
def logs(draw: st.DrawFn) -> list[LoggedDecision]:
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        arms = ARMS[: draw(st.integers(1, 3))]
        chosen = draw(st.integers(0, len(arms) - 1))
        propensity = draw(st.floats(0.001, 1.0))
        reward = draw(st.floats(-10.0, 10.0))
        rows.append(LoggedDecision(CONTEXT, arms, chosen, propensity, reward))
    return rows


def always(model: str) -> TargetPmf:
    """Every probability on ``model``; uniform over rows that do not offer it."""

    def target(context: Context, arms: tuple[Arm, ...]) -> list[float]:
        if model not in {arm.id for arm in arms}:
            return [1.0 / len(arms)] * len(arms)
        return [1.0 if arm.id == model else 0.0 for arm in arms]

    return target


@settings(max_examples=300, deadline=None, derandomize=True)
@given(log=logs(), model=st.sampled_from(["a", "b", "c"]), resamples=st.integers(1, 20))
def test_every_estimator_answers_or_refuses_with_a_sentence(
    log: list[LoggedDecision], model: str, resamples: int
) -> None:
    refusals: list[str] = []
    for estimator in (ips, snips, doubly_robust):
        try:
            estimate = estimator(log, always(model), resamples=resamples, seed=0)
        except InvalidInputError as refused:
            refusals.append(str(refused))
            continue
        assert math.isfinite(estimate.value)
        assert (estimate.lower is None) == (estimate.upper is None)
        if estimate.lower is not None and estimate.upper is not None:
            assert estimate.lower <= estimate.upper
    assert all(refusal.endswith(".") for refusal in refusals)


def test_the_reported_case_a_then_b_b_has_an_estimate_for_a() -> None:
    """Issue 21: three rewarded decisions chose A, B, B; the one seeded resample held no A
    row, and SNIPS for "only A" raised IndexError (a 500)."""
    two = ARMS[:2]
    log = [
        LoggedDecision(CONTEXT, two, 0, 0.5, 1.0),
        LoggedDecision(CONTEXT, two, 1, 0.5, 0.0),
        LoggedDecision(CONTEXT, two, 1, 0.5, 0.0),
    ]
    for seed in range(20):
        estimate = snips(log, always("a"), resamples=1, seed=seed)
        assert estimate.value == 1.0
