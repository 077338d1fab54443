"""Defaults of ``bandit-router replay`` that the CLI shows without importing the evaluator."""

from __future__ import annotations

__all__ = ["COST_WEIGHTS"]

#: The default frontier: reward = quality - W * cost_usd. Steps of 5 from 10 to 30, where a
#: tenth of a cent per prompt trades against a few points of quality; the RouterBench subset's
#: task-level choices switch there (docs/results.md).
COST_WEIGHTS: tuple[float, ...] = (0.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 80.0)
