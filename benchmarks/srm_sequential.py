"""The split check, looked at as often as the service looks: how often it pauses a healthy
experiment, and how soon it catches a broken split; the sequential test (the service's) beside
the fixed-sample chi-squared test it replaced, on the same simulated stages.

    PYTHONPATH=. .venv/bin/python benchmarks/srm_sequential.py --stages 2000

Each stage: ``--units`` units assigned to the candidate with probability ``true share``, the
check run after every 1-50 units (uniform, seeded), a pause at p < 0.001. A healthy stage has
true share = the stage's share (0.10); a broken one is served at another share.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from experiments.rules import SRM_THRESHOLD
from experiments.statistics import sample_ratio_mismatch


def chi_squared(n_candidate: int, n_control: int, share: float) -> float:
    total = n_candidate + n_control
    expected = (total * share, total * (1 - share))
    statistic = (n_candidate - expected[0]) ** 2 / expected[0] + (
        n_control - expected[1]
    ) ** 2 / expected[1]
    return math.erfc(math.sqrt(statistic / 2.0))


def run(
    check: object, true_share: float, share: float, units: int, stages: int, seed: int
) -> tuple[float, float | None]:
    """Share of stages paused, and the median units seen at the pause."""
    rng = np.random.default_rng(seed)
    paused_at: list[int] = []
    for _ in range(stages):
        served = rng.random(units) < true_share
        candidate = np.cumsum(served)
        n = 0
        while n < units:
            n = min(units, n + int(rng.integers(1, 51)))
            c = int(candidate[n - 1])
            if check(c, n - c, share) < SRM_THRESHOLD:  # type: ignore[operator]
                paused_at.append(n)
                break
    rate = len(paused_at) / stages
    return rate, float(np.median(paused_at)) if paused_at else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=2000)
    parser.add_argument("--units", type=int, default=2000)
    args = parser.parse_args()
    print(f"{'true share':>10} {'test':>12} {'paused':>8} {'median units at pause':>22}")
    for true_share in (0.10, 0.13, 0.15, 0.20):
        for name, check in (("chi-squared", chi_squared), ("sequential", sample_ratio_mismatch)):
            rate, at = run(check, true_share, 0.10, args.units, args.stages, seed=7)
            shown = "-" if at is None else f"{at:.0f}"
            print(f"{true_share:>10.2f} {name:>12} {rate:>8.2%} {shown:>22}")


if __name__ == "__main__":
    main()
