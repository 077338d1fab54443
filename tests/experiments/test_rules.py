"""The stage rule on hand-built statistics: each action and the order of the checks."""

from __future__ import annotations

import math

import pytest

from experiments import (
    MIN_TEST_FEEDBACK,
    ArmStats,
    ExperimentSpec,
    Guardrails,
    Moments,
    StageCounts,
    evaluate,
)

SPEC = ExperimentSpec("default", "new-model")


def arm(
    mean: float,
    n: int,
    *,
    sd: float = 0.2,
    cost: float | None = None,
    latency: float | None = None,
    error_rate: float = 0.0,
) -> ArmStats:
    """Statistics of ``n`` observations with the given mean and standard deviation."""
    moments = Moments(n, mean, sd * sd * (n - 1))
    errors = Moments(n, error_rate, error_rate * (1 - error_rate) * n)
    costs = Moments() if cost is None else Moments(n, cost, (0.5 * cost) ** 2 * (n - 1))
    latencies: tuple[float, ...] = ()
    if latency is not None:  # evenly spread quantiles of a uniform(0, 2 * latency)
        latencies = tuple(2 * latency * (i + 0.5) / n for i in range(n))
    return ArmStats(moments, moments, costs, errors, latencies)


def counts(candidate: int, control: int) -> StageCounts:
    """Stage counts with every decision answered."""
    return StageCounts(candidate, control, candidate, control)


def test_sample_ratio_mismatch_pauses_before_anything_else() -> None:
    verdict = evaluate(SPEC, 0, arm(0.3, 1300), arm(0.7, 8700), counts(1300, 8700))
    assert verdict.action == "pause"
    assert "sample-ratio-mismatch" in verdict.reason
    assert verdict.evidence.srm_p_value < 0.001


def test_no_test_before_the_burn_in() -> None:
    few = MIN_TEST_FEEDBACK - 1
    verdict = evaluate(SPEC, 0, arm(0.0, few, sd=0.01), arm(0.9, 9 * few), counts(few, 9 * few))
    assert verdict.action == "continue"
    assert verdict.evidence.lower is None
    assert "Waiting for" in verdict.reason


def test_a_clearly_worse_candidate_is_rolled_back_at_once() -> None:
    # Far below the per-stage minimum: rollback does not wait for it.
    verdict = evaluate(SPEC, 0, arm(0.5, 150), arm(0.7, 1350), counts(150, 1350))
    assert verdict.action == "rollback"
    assert verdict.evidence.upper is not None
    assert verdict.evidence.upper < -SPEC.margin
    assert "worse than control by more than the margin" in verdict.reason


def test_non_inferiority_with_enough_stage_feedback_moves_to_the_next_stage() -> None:
    verdict = evaluate(SPEC, 0, arm(0.7, 3000), arm(0.7, 27000), counts(3000, 27000))
    assert verdict.action == "next_stage"
    evidence = verdict.evidence
    assert evidence.lower is not None
    assert evidence.lower > -SPEC.margin
    assert evidence.p_value is not None
    assert evidence.p_value < SPEC.alpha
    assert "moving to share 0.25" in verdict.reason


def test_promotion_waits_for_the_per_stage_minimum() -> None:
    """Cumulative evidence is conclusive, but the new stage has only 150 candidate feedback."""
    stage = StageCounts(150, 450, 150, 450)
    verdict = evaluate(SPEC, 1, arm(0.7, 3000), arm(0.7, 27000), stage)
    assert verdict.action == "continue"
    assert "150 of 200 stage feedback" in verdict.reason


def test_the_last_stage_completes_without_control_feedback() -> None:
    stage = StageCounts(250, 0, 250, 0)
    verdict = evaluate(SPEC, 3, arm(0.7, 3000), arm(0.7, 27000), stage)
    assert verdict.action == "complete"


def test_inconclusive_evidence_continues() -> None:
    verdict = evaluate(SPEC, 0, arm(0.69, 300), arm(0.7, 2700), counts(300, 2700))
    assert verdict.action == "continue"
    assert "non-inferiority is not shown yet" in verdict.reason


def test_a_confident_cost_breach_rolls_back() -> None:
    spec = ExperimentSpec("default", "new-model", guardrails=Guardrails(max_cost_ratio=1.5))
    verdict = evaluate(
        spec, 0, arm(0.8, 300, cost=0.03), arm(0.7, 2700, cost=0.01), counts(300, 2700)
    )
    assert verdict.action == "rollback"
    (check,) = verdict.evidence.guardrails
    assert (check.name, check.status) == ("cost_ratio", "breached")
    assert check.estimate == pytest.approx(3.0)
    assert check.bound > 1.5


def test_a_suspect_guardrail_blocks_promotion_but_does_not_roll_back() -> None:
    spec = ExperimentSpec("default", "new-model", guardrails=Guardrails(max_cost_ratio=1.5))
    verdict = evaluate(
        spec, 0, arm(0.7, 3000, cost=0.0152), arm(0.7, 27000, cost=0.01), counts(3000, 27000)
    )
    assert verdict.action == "continue"
    assert verdict.evidence.guardrails[0].status == "suspect"
    assert "cost_ratio guardrail is exceeded by the point estimate" in verdict.reason


def test_a_guardrail_without_data_blocks_promotion() -> None:
    spec = ExperimentSpec("default", "new-model", guardrails=Guardrails(max_latency_p95_ratio=1.5))
    verdict = evaluate(spec, 0, arm(0.7, 3000), arm(0.7, 27000), counts(3000, 27000))
    assert verdict.action == "continue"
    assert verdict.evidence.guardrails[0].status == "insufficient"


@pytest.mark.parametrize(
    ("guardrails", "candidate", "name"),
    [
        (Guardrails(max_quality_drop=0.05), arm(0.55, 400), "quality_drop"),
        (Guardrails(max_latency_p95_ratio=1.5), arm(0.7, 400, latency=3000.0), "latency_p95_ratio"),
        (
            Guardrails(max_error_rate_increase=0.02),
            arm(0.7, 400, error_rate=0.2),
            "error_rate_increase",
        ),
    ],
)
def test_each_guardrail_can_roll_back(
    guardrails: Guardrails, candidate: ArmStats, name: str
) -> None:
    spec = ExperimentSpec("default", "new-model", margin=0.5, guardrails=guardrails)
    control = arm(0.7, 3600, latency=1000.0, error_rate=0.01)
    verdict = evaluate(spec, 0, candidate, control, counts(400, 3600))
    assert verdict.action == "rollback"
    assert [c.name for c in verdict.evidence.guardrails if c.status == "breached"] == [name]
    assert name in verdict.reason


def test_passing_guardrails_allow_promotion() -> None:
    guardrails = Guardrails(
        max_quality_drop=0.05,
        max_cost_ratio=1.5,
        max_latency_p95_ratio=1.5,
        max_error_rate_increase=0.02,
    )
    spec = ExperimentSpec("default", "new-model", guardrails=guardrails)
    candidate = arm(0.7, 3000, cost=0.01, latency=1000.0, error_rate=0.01)
    control = arm(0.7, 27000, cost=0.01, latency=1000.0, error_rate=0.01)
    verdict = evaluate(spec, 0, candidate, control, counts(3000, 27000))
    assert verdict.action == "next_stage"
    assert [c.status for c in verdict.evidence.guardrails] == ["ok"] * 4
    assert all(math.isfinite(c.bound) for c in verdict.evidence.guardrails)


def test_stage_counts_reject_negative_values() -> None:
    with pytest.raises(ValueError, match="units_control must not be negative"):
        StageCounts(1, -1, 0, 0)


def test_unknown_stage_is_rejected() -> None:
    with pytest.raises(ValueError, match="Stage index 7"):
        evaluate(SPEC, 7, arm(0.7, 300), arm(0.7, 300), counts(300, 300))
