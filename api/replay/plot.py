"""The cost-quality plane and the learning curves of a replay, as one PNG (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from api.replay.runner import ReplayReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_report"]


def plot_report(report: ReplayReport, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here or on servers
    import matplotlib.pyplot as plt

    figure, (plane, curves) = plt.subplots(1, 2, figsize=(14, 6))
    _plot_plane(plane, report)
    _plot_curves(curves, report)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_plane(plane: Axes, report: ReplayReport) -> None:
    """The cost-quality plane: the single models, the oracle, random, and the frontiers."""
    baselines = report.baselines
    for model, point in baselines.per_model.items():
        plane.scatter(point.mean_cost_usd, point.mean_quality, color="grey", s=25)
        plane.annotate(
            model.split("/")[-1],
            (point.mean_cost_usd, point.mean_quality),
            fontsize=7,
            color="dimgrey",
            xytext=(3, 3),
            textcoords="offset points",
        )
    plane.scatter(
        baselines.oracle.mean_cost_usd,
        baselines.oracle.mean_quality,
        marker="*",
        s=160,
        color="gold",
        edgecolor="black",
        label="oracle",
        zorder=3,
    )
    plane.scatter(
        baselines.random.mean_cost_usd,
        baselines.random.mean_quality,
        marker="x",
        s=60,
        color="black",
        label="random",
    )
    _plot_frontiers(plane, report)
    plane.set_xscale("log")
    plane.set_xlabel("mean cost per prompt (USD, log scale)")
    plane.set_ylabel("mean quality")
    plane.set_title("cost-quality plane (holdout prompts)")
    plane.legend(loc="lower right", fontsize=8)
    plane.grid(alpha=0.3)


def _plot_frontiers(plane: Axes, report: ReplayReport) -> None:
    runs = report.runs
    # Each curve joins its points in order of cost, so it reads as a cost-quality frontier.
    curves_to_draw = (
        (
            [(r.result.holdout.mean_cost_usd, r.result.holdout.mean_quality) for r in runs],
            "o-",
            "tab:blue",
            "bandit, holdout (greedy)",
        ),
        (
            [(r.result.online.mean_cost_usd, r.result.online.mean_quality) for r in runs],
            "s--",
            "tab:cyan",
            "bandit, online (while learning)",
        ),
        (
            [(r.supervised.mean_cost_usd, r.supervised.mean_quality) for r in runs],
            "^-",
            "tab:red",
            "supervised reference (full information)",
        ),
    )
    for points, style, colour, label in curves_to_draw:
        points.sort()
        plane.plot(
            [c for c, _ in points],
            [q for _, q in points],
            style,
            color=colour,
            label=label,
            zorder=4,
        )
    for run in runs:
        plane.annotate(
            f"w={run.cost_weight:g}",
            (run.result.holdout.mean_cost_usd, run.result.holdout.mean_quality),
            fontsize=7,
            color="tab:blue",
            xytext=(3, -10),
            textcoords="offset points",
        )


def _plot_curves(curves: Axes, report: ReplayReport) -> None:
    """Learning curves of three cost weights (cheapest, middle, most quality-driven), which
    keep the panel readable, against the best single model."""
    runs, baselines = report.runs, report.baselines
    best = baselines.per_model[baselines.best_single_model]
    shown = [runs[i] for i in sorted({0, len(runs) // 2, len(runs) - 1})]
    for run in shown:
        curve = run.result.curve
        curves.plot(
            [p.events for p in curve],
            [p.mean_quality for p in curve],
            label=f"cost_weight {run.cost_weight:g}",
        )
    curves.axhline(
        best.mean_quality,
        color="grey",
        linestyle=":",
        label=f"best single model ({baselines.best_single_model.split('/')[-1]})",
    )
    curves.set_xlabel("online events (all passes)")
    curves.set_ylabel("mean quality, trailing tenth of the run")
    curves.set_title("learning curves (online, exploration included)")
    curves.legend(fontsize=8)
    curves.grid(alpha=0.3)
