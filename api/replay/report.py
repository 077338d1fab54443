"""The replay report: its JSON form (a stable contract, in the README) and a stdout table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from api.replay.cascade import cascade_json
from api.replay.runner import BudgetOutcome, CostWeightRun, ReplayReport
from bandit.replay import Point, Summary

__all__ = ["to_json", "to_table"]


def _summary(summary: Summary) -> dict[str, Any]:
    return {
        "events": summary.events,
        "mean_quality": summary.mean_quality,
        "mean_cost_usd": summary.mean_cost_usd,
        "mean_reward": summary.mean_reward,
        "model_share": dict(summary.model_share),
    }


def _point(point: Point) -> dict[str, float]:
    return {"mean_quality": point.mean_quality, "mean_cost_usd": point.mean_cost_usd}


def _budget(run: CostWeightRun) -> dict[str, Any] | None:
    """A budget run's target, the spend it achieved against it and its final cost weight."""
    outcome: BudgetOutcome | None = run.budget
    if outcome is None:
        return None
    target = outcome.usd_per_request
    return {
        "cost_share": outcome.budget.cost_share,
        "reference": outcome.budget.reference,
        "reference_cost_usd": outcome.reference_cost_usd,
        "usd_per_request": target,
        "final_cost_weight": outcome.final_cost_weight,
        "online_spend_vs_budget": run.result.online.mean_cost_usd / target,
        "holdout_spend_vs_budget": run.result.holdout.mean_cost_usd / target,
    }


def to_json(report: ReplayReport, dataset: str) -> dict[str, Any]:
    options = report.options
    best = report.baselines.best_single_model
    return {
        "dataset": dataset,
        "events": report.events,
        "passes": options.passes,
        "seed": options.seed,
        "holdout_fraction": options.holdout,
        "train_events": report.train_events,
        "holdout_events": report.holdout_events,
        "models": list(report.models),
        "policy": {
            "exploration": asdict(options.exploration),
            "features": asdict(options.features),
            "task_feature": options.task_feature,
        },
        "featurise_seconds": report.featurise_seconds,
        "runs": [
            {
                "cost_weight": run.cost_weight,
                "budget": _budget(run),
                "online": _summary(run.result.online),
                "holdout": {
                    **_summary(run.result.holdout),
                    "model_share_by_source": {
                        source: dict(shares)
                        for source, shares in run.result.holdout_share_by_source.items()
                    },
                },
                "supervised_reference": _point(run.supervised),
                "events_per_second": run.events_per_second,
                "learning_curve": [asdict(point) for point in run.result.curve],
                **(
                    {
                        "cascade": cascade_json(
                            run.cascade,
                            options.cascade,
                            run.cost_weight,
                            None if run.budget is None else run.budget.usd_per_request,
                        )
                    }
                    if run.cascade is not None and options.cascade is not None
                    else {}
                ),
            }
            for run in report.runs
        ],
        "baselines": {
            "best_single_model": {"model": best, **_point(report.baselines.per_model[best])},
            "oracle": _point(report.baselines.oracle),
            "random": _point(report.baselines.random),
            "per_model": {m: _point(p) for m, p in report.baselines.per_model.items()},
        },
    }


def to_table(report: ReplayReport, dataset: str) -> str:
    """A plain-text summary; quality and cost are also shown relative to the best model."""
    baselines = report.baselines
    best = baselines.per_model[baselines.best_single_model]
    lines = [
        f"dataset {dataset}: {report.events} prompts, {len(report.models)} models; "
        f"{report.train_events} learned online x {report.options.passes} passes, "
        f"{report.holdout_events} held out",
        f"holdout baselines: best single model {baselines.best_single_model} "
        f"quality {best.mean_quality:.3f} cost ${best.mean_cost_usd:.6f}/prompt; "
        f"oracle {baselines.oracle.mean_quality:.3f} ${baselines.oracle.mean_cost_usd:.6f}; "
        f"random {baselines.random.mean_quality:.3f} ${baselines.random.mean_cost_usd:.6f}",
        "",
        f"{'cost_weight':>11} | {'holdout quality':>17} {'cost':>14} | "
        f"{'online quality':>16} {'cost':>14} | {'supervised':>16} {'cost':>14} | events/s",
    ]

    def cell(quality: float, cost: float) -> str:
        return (
            f"{quality:.3f} ({quality / best.mean_quality:5.1%}) "
            f"{cost / best.mean_cost_usd:6.1%} of best"
        )

    for run in report.runs:
        holdout, online = run.result.holdout, run.result.online
        lines.append(
            f"{_label(run):>11} | {cell(holdout.mean_quality, holdout.mean_cost_usd)} | "
            f"{cell(online.mean_quality, online.mean_cost_usd)} | "
            f"{cell(run.supervised.mean_quality, run.supervised.mean_cost_usd)} | "
            f"{run.events_per_second:,.0f}"
        )
    budgets = [run for run in report.runs if run.budget is not None]
    if budgets:
        lines += ["", "budget runs: spend against the budget (budget = share x reference cost)"]
    for run in budgets:
        assert run.budget is not None
        outcome = run.budget
        lines.append(
            f"  budget {outcome.budget.cost_share:g} of {outcome.budget.reference} "
            f"(${outcome.usd_per_request:.6f}/prompt): holdout spend "
            f"{run.result.holdout.mean_cost_usd / outcome.usd_per_request:.1%} of budget, "
            f"online {run.result.online.mean_cost_usd / outcome.usd_per_request:.1%}; "
            f"final cost weight {outcome.final_cost_weight:.4g}"
        )
    return "\n".join(lines)


def _label(run: CostWeightRun) -> str:
    """The cost weight, or ``b=SHARE`` for a budget run (its weight is the controller's)."""
    if run.budget is None:
        return f"{run.cost_weight:g}"
    return f"b={run.budget.budget.cost_share:g}"
