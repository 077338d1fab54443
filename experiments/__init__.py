"""Traffic-split experiments: gate a candidate model from 10% of traffic to full rollout.

Pure code (no web, database or telemetry): the validated spec, stable assignment and exact
propensities, running statistics with always-valid confidence sequences, the stage rule, and a
seeded simulator that drives the same rule code. See ``docs/experiments.md``.
"""

from experiments.assignment import assign_candidate, assignment_point, routing_pmf
from experiments.rules import (
    MIN_TEST_FEEDBACK,
    SRM_THRESHOLD,
    Action,
    Evidence,
    GuardrailCheck,
    GuardrailName,
    GuardrailStatus,
    StageCounts,
    Verdict,
    evaluate,
)
from experiments.simulation import (
    Outcome,
    SimulationResult,
    SyntheticArm,
    Transition,
    simulate,
)
from experiments.spec import ExperimentSpec, Guardrails, Mode
from experiments.statistics import (
    ArmAccumulator,
    ArmStats,
    ConfidenceSequence,
    Moments,
    difference_sequence,
    mixing_variance,
    normal_mixture_sequence,
    quantile_bounds,
    sample_ratio_mismatch,
)

__all__ = [
    "MIN_TEST_FEEDBACK",
    "SRM_THRESHOLD",
    "Action",
    "ArmAccumulator",
    "ArmStats",
    "ConfidenceSequence",
    "Evidence",
    "ExperimentSpec",
    "GuardrailCheck",
    "GuardrailName",
    "GuardrailStatus",
    "Guardrails",
    "Mode",
    "Moments",
    "Outcome",
    "SimulationResult",
    "StageCounts",
    "SyntheticArm",
    "Transition",
    "Verdict",
    "assign_candidate",
    "assignment_point",
    "difference_sequence",
    "evaluate",
    "mixing_variance",
    "normal_mixture_sequence",
    "quantile_bounds",
    "routing_pmf",
    "sample_ratio_mismatch",
    "simulate",
]
