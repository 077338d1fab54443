"""A seeded simulator that runs an experiment through the server's own rule code.

Every decision is assigned with :func:`experiments.assignment.assign_candidate`, every look is
:func:`experiments.rules.evaluate` over :class:`experiments.statistics.ArmAccumulator`
snapshots, so tests and the benchmark exercise exactly what the router runs; only the outcomes
(quality, cost, latency, errors) are synthetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from experiments.assignment import assign_candidate
from experiments.rules import StageCounts, Verdict, evaluate
from experiments.spec import ExperimentSpec
from experiments.statistics import ArmAccumulator

__all__ = ["Outcome", "SimulationResult", "SyntheticArm", "Transition", "simulate"]

#: How a simulated experiment ended; ``unfinished`` means it hit ``max_decisions``.
Outcome = Literal["completed", "rolled_back", "paused", "unfinished"]

_LATENCY_SIGMA = 0.5  # log-normal spread of latencies
_COST_SHAPE = 4.0  # gamma shape of costs: coefficient of variation 0.5


@dataclass(frozen=True, slots=True)
class SyntheticArm:
    """How one simulated arm behaves.

    Quality is Beta-distributed with mean ``quality`` and standard deviation ``quality_sd``
    (Bernoulli when ``quality_sd`` is ``None``); an error yields quality 0. Cost is gamma
    with mean ``cost_usd``; latency log-normal with median ``latency_ms`` (not recorded when
    ``None``, which keeps long simulations cheap). Reward is
    ``quality - cost_weight * cost_usd``.

    >>> SyntheticArm(0.7, quality_sd=0.5)
    Traceback (most recent call last):
    ...
    ValueError: Quality sd 0.5 is too large for a score in [0, 1] with mean 0.7.
    """

    quality: float
    quality_sd: float | None = 0.2
    cost_usd: float = 0.001
    latency_ms: float | None = None
    error_rate: float = 0.0
    cost_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.quality < 1.0:
            raise ValueError(f"Mean quality {self.quality!r} must be strictly between 0 and 1.")
        if self.quality_sd is not None and not (
            0.0 < self.quality_sd**2 < self.quality * (1.0 - self.quality)
        ):
            raise ValueError(
                f"Quality sd {self.quality_sd!r} is too large for a score in [0, 1] "
                f"with mean {self.quality!r}."
            )
        if not (math.isfinite(self.cost_usd) and self.cost_usd > 0.0):
            raise ValueError(f"Mean cost {self.cost_usd!r} must be a positive number.")
        if self.latency_ms is not None and not self.latency_ms > 0.0:
            raise ValueError(f"Median latency {self.latency_ms!r} must be positive.")
        if not 0.0 <= self.error_rate < 1.0:
            raise ValueError(f"Error rate {self.error_rate!r} must be in [0, 1).")

    @property
    def mean_reward(self) -> float:
        """The arm's true mean reward."""
        return (1.0 - self.error_rate) * self.quality - self.cost_weight * self.cost_usd

    def draw(self, rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
        """``size`` synthetic outcomes: quality, cost, latency (may be empty), error, reward."""
        if self.quality_sd is None:
            quality = (rng.random(size) < self.quality).astype(float)
        else:
            concentration = self.quality * (1.0 - self.quality) / self.quality_sd**2 - 1.0
            quality = rng.beta(
                self.quality * concentration, (1.0 - self.quality) * concentration, size
            )
        error = rng.random(size) < self.error_rate
        quality = np.where(error, 0.0, quality)
        cost = rng.gamma(_COST_SHAPE, self.cost_usd / _COST_SHAPE, size)
        latency = (
            np.empty(0)
            if self.latency_ms is None
            else self.latency_ms * np.exp(_LATENCY_SIGMA * rng.standard_normal(size))
        )
        reward = quality - self.cost_weight * cost
        return {
            "quality": quality,
            "cost": cost,
            "latency": latency,
            "error": error,
            "reward": reward,
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """A verdict other than ``continue``, with the decision count at which it happened."""

    decisions: int
    feedback: int
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """How one simulated experiment went.

    ``feedback_to_full_rollout`` is the total feedback (both arms) when the last stage was
    entered, ``None`` if it never was.
    """

    outcome: Outcome
    stage_index: int
    decisions: int
    feedback: int
    feedback_to_full_rollout: int | None
    transitions: tuple[Transition, ...]
    last_verdict: Verdict | None

    @property
    def reached_full_rollout(self) -> bool:
        """Whether the candidate ever served the last stage's share (1.0)."""
        return self.feedback_to_full_rollout is not None


def simulate(
    spec: ExperimentSpec,
    candidate: SyntheticArm,
    control: SyntheticArm,
    *,
    seed: int,
    max_decisions: int = 200_000,
    check_every: int = 100,
    feedback_rate: float = 1.0,
    split_skew: float = 1.0,
    experiment_id: str | None = None,
) -> SimulationResult:
    """Run one experiment until it completes, rolls back, pauses or hits ``max_decisions``.

    Each decision is its own unit (its id plays the decision id); the rule looks every
    ``check_every`` decisions. ``split_skew`` simulates a routing bug: the split is served at
    ``share * split_skew`` while the rule expects ``share``.

    >>> spec = ExperimentSpec("p", "better", min_feedback_per_stage=50, margin=0.1)
    >>> simulate(spec, SyntheticArm(0.8), SyntheticArm(0.6), seed=1).outcome
    'completed'
    """
    if max_decisions < 1 or check_every < 1:
        raise ValueError(
            f"max_decisions ({max_decisions}) and check_every ({check_every}) must be positive."
        )
    if not 0.0 < feedback_rate <= 1.0:
        raise ValueError(f"Feedback rate {feedback_rate!r} must be in (0, 1].")
    if not split_skew > 0.0:
        raise ValueError(f"Split skew {split_skew!r} must be positive.")
    experiment = experiment_id if experiment_id is not None else f"sim-{seed}"
    rng = np.random.default_rng(seed)
    arms = {True: ArmAccumulator(), False: ArmAccumulator()}
    behaviour = {True: candidate, False: control}
    stage_index = 0
    stage = {"dc": 0, "dk": 0, "fc": 0, "fk": 0}
    decisions = feedback = 0
    to_full: int | None = 0 if len(spec.stages) == 1 else None
    transitions: list[Transition] = []
    verdict: Verdict | None = None

    while decisions < max_decisions:
        served = min(1.0, spec.stages[stage_index] * split_skew)
        block = min(check_every, max_decisions - decisions)
        outcomes = {arm: behaviour[arm].draw(rng, block) for arm in (True, False)}
        answered = rng.random(block) < feedback_rate
        for i in range(block):
            on_candidate = assign_candidate(experiment, f"{experiment}-d{decisions + i}", served)
            stage["dc" if on_candidate else "dk"] += 1
            if not answered[i]:
                continue
            stage["fc" if on_candidate else "fk"] += 1
            feedback += 1
            drawn = outcomes[on_candidate]
            arms[on_candidate].add(
                float(drawn["reward"][i]),
                quality=float(drawn["quality"][i]),
                cost_usd=float(drawn["cost"][i]),
                latency_ms=float(drawn["latency"][i]) if drawn["latency"].size else None,
                error=bool(drawn["error"][i]),
            )
        decisions += block
        counts = StageCounts(stage["dc"], stage["dk"], stage["fc"], stage["fk"])
        verdict = evaluate(spec, stage_index, arms[True].stats(), arms[False].stats(), counts)
        if verdict.action == "continue":
            continue
        transitions.append(Transition(decisions, feedback, verdict))
        if verdict.action == "next_stage":
            stage_index += 1
            stage = dict.fromkeys(stage, 0)
            if stage_index == len(spec.stages) - 1:
                to_full = feedback
            continue
        outcome: Outcome = (
            "completed"
            if verdict.action == "complete"
            else "rolled_back"
            if verdict.action == "rollback"
            else "paused"
        )
        return SimulationResult(
            outcome, stage_index, decisions, feedback, to_full, tuple(transitions), verdict
        )
    return SimulationResult(
        "unfinished", stage_index, decisions, feedback, to_full, tuple(transitions), verdict
    )
