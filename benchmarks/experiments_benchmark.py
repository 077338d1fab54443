"""Simulated experiments: how often the stage rule promotes, how fast, against a fixed horizon.

    .venv/bin/python benchmarks/experiments_benchmark.py --runs 200 --workers 2

Every run is :func:`experiments.simulation.simulate` with seeds ``0 .. runs - 1``: the same
assignment and rule code the router uses, with synthetic outcomes (quality Beta with sd 0.2,
control mean 0.70, default spec: stages 0.10/0.25/0.50/1.00, 200 feedback per stage,
margin 0.02, alpha 0.05). Prints a markdown table per scenario, then the fixed-horizon
comparison.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from experiments import ExperimentSpec, SimulationResult, SyntheticArm, simulate

CONTROL_QUALITY = 0.70
QUALITY_SD = 0.2
SPEC = ExperimentSpec("benchmark", "candidate")
SCENARIOS: tuple[tuple[str, float], ...] = (
    ("clearly worse (-0.10)", -0.10),
    ("worse than the margin (-0.03)", -0.03),
    ("at the margin (-0.02)", -0.02),
    ("equal (0.00)", 0.0),
    ("better (+0.02)", 0.02),
)


@dataclass(frozen=True)
class Job:
    difference: float
    seed: int
    max_decisions: int


def run(job: Job) -> SimulationResult:
    candidate = SyntheticArm(CONTROL_QUALITY + job.difference, quality_sd=QUALITY_SD)
    control = SyntheticArm(CONTROL_QUALITY, quality_sd=QUALITY_SD)
    return simulate(SPEC, candidate, control, seed=job.seed, max_decisions=job.max_decisions)


def quartiles(values: list[int]) -> str:
    if not values:
        return "-"
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return f"{q2:,.0f} ({q1:,.0f}-{q3:,.0f})"


def fixed_horizon_total(difference: float, power: float, allocation: float) -> float:
    """Total feedback of a one-shot one-sided non-inferiority z-test at level alpha with
    ``power`` at the true ``difference``, ``allocation`` of it on the candidate."""
    z = stats.norm.ppf(1 - SPEC.alpha) + stats.norm.ppf(power)
    variance = QUALITY_SD**2 / allocation + QUALITY_SD**2 / (1 - allocation)
    return float(z * z * variance / (difference + SPEC.margin) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-decisions", type=int, default=100_000)
    args = parser.parse_args()

    started = time.perf_counter()
    rows = []
    powers: dict[str, tuple[float, float, list[int]]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, difference in SCENARIOS:
            jobs = [Job(difference, seed, args.max_decisions) for seed in range(args.runs)]
            results = list(pool.map(run, jobs, chunksize=4))
            n = len(results)
            reached = [
                r.feedback_to_full_rollout
                for r in results
                if r.feedback_to_full_rollout is not None
            ]
            completed = [r.feedback for r in results if r.outcome == "completed"]
            rolled = [r for r in results if r.outcome == "rolled_back"]
            rolled_late = sum(SPEC.stages[r.stage_index] >= 0.5 for r in rolled)

            def rate(count: int, total: int = n) -> str:
                return f"{count / total:.1%}"

            rows.append(
                f"| {name} | {n} | {rate(len(reached))} | {rate(len(completed))} "
                f"| {rate(len(rolled))} | {rolled_late} "
                f"| {rate(sum(r.outcome == 'paused' for r in results))} "
                f"| {rate(sum(r.outcome == 'unfinished' for r in results))} "
                f"| {quartiles(reached)} "
                f"| {quartiles(completed)} | {quartiles([r.feedback for r in rolled])} |"
            )
            if difference >= 0:
                powers[name] = (
                    difference,
                    len(completed) / n,
                    reached,
                )

    print(
        f"{args.runs} seeded runs per scenario, at most {args.max_decisions:,} decisions each; "
        f"control quality {CONTROL_QUALITY} (Beta, sd {QUALITY_SD}); margin {SPEC.margin}, "
        f"alpha {SPEC.alpha}, stages {SPEC.stages}, {SPEC.min_feedback_per_stage} feedback per "
        "stage. Feedback counts are totals over both arms: median (quartiles).\n"
    )
    print(
        "| candidate - control | runs | reached 1.0 | completed | rolled back "
        "| rolled back at >= 0.50 | paused (SRM) | unfinished | feedback to reach 1.0 "
        "| feedback to complete | feedback to roll back |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))

    print(
        "\nFixed-horizon non-inferiority z-test (one-sided, same alpha and margin) with the "
        "power the sequential rule achieved (its completion rate), total feedback:\n"
    )
    print(
        "| candidate - control | sequential power | sequential median to reach 1.0 "
        "| fixed horizon 50/50 | fixed horizon 10/90 |"
    )
    print("|---|---|---|---|---|")
    for name, (difference, power, reached) in powers.items():
        p = min(power, 0.999)
        median = f"{np.median(reached):,.0f}" if reached else "-"
        print(
            f"| {name} | {power:.1%} | {median} "
            f"| {math.ceil(fixed_horizon_total(difference, p, 0.5)):,} "
            f"| {math.ceil(fixed_horizon_total(difference, p, 0.1)):,} |"
        )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
