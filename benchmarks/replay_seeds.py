"""Replay over several seeds: mean and spread of every figure, and the issue's targets.

    .venv/bin/python benchmarks/replay_seeds.py \
        ../shared/data/routerbench_5shot_subset/routerbench_5shot_subset.jsonl.gz \
        --seeds 0 1 2 3 4 --markdown docs/replay_table.md --plot docs/replay_routerbench.png

Each seed runs ``bandit-router replay DATASET --seed S --json ...`` as a subprocess (the exact
product command), then this script aggregates the JSON reports. Extra options after ``--`` are
passed to every replay run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _run(dataset: str, seed: int, extra: list[str], workdir: Path, plot: Path | None) -> Any:
    out = workdir / f"seed{seed}.json"
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "replay",
        dataset,
        "--seed",
        str(seed),
        "--json",
        str(out),
        "--quiet",
        *extra,
    ]
    if plot is not None:
        command += ["--plot", str(plot)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return json.loads(out.read_text())


def _frontier_at(points: list[tuple[float, float]], cost: float) -> float | None:
    """Best quality the (cost, quality) points reach at ``cost`` or below, interpolating
    linearly in log-cost between neighbouring points of the Pareto frontier."""
    pareto: list[tuple[float, float]] = []
    for c, q in sorted(points):
        if not pareto or q > pareto[-1][1]:
            pareto.append((c, q))
    below = [p for p in pareto if p[0] <= cost]
    if not below:
        return None
    above = [p for p in pareto if p[0] > cost]
    (c0, q0) = below[-1]
    if not above:
        return q0
    import math

    (c1, q1) = above[0]
    t = (math.log(cost) - math.log(c0)) / (math.log(c1) - math.log(c0))
    return q0 + t * (q1 - q0)


def _budget_table(args: argparse.Namespace, reports: list[Any]) -> str:
    """Budget runs: per seed, holdout spend and quality relative to the holdout's best single
    model, the spend against the budget, and the cost weight the controller ended at."""
    best = reports[0]["baselines"]["best_single_model"]["model"]
    lines = [
        f"Dataset `{Path(args.dataset).name}`, seeds {args.seeds}, "
        f"{reports[0]['passes']} passes, holdout {reports[0]['holdout_fraction']}. Budgets are "
        f"shares of the training split's best single model's mean cost ({best}); spend and "
        "quality are the holdout's, relative to that model on the holdout.",
        "",
        "| budget | seed | holdout spend | holdout quality | online spend | online quality "
        "| final cost weight |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, run in enumerate(reports[0]["runs"]):
        share = run["budget"]["cost_share"]
        spends, qualities = [], []
        for seed, report in zip(args.seeds, reports, strict=True):
            this = report["runs"][index]
            ref = report["baselines"]["best_single_model"]
            spend = this["holdout"]["mean_cost_usd"] / ref["mean_cost_usd"]
            quality = this["holdout"]["mean_quality"] / ref["mean_quality"]
            spends.append(spend)
            qualities.append(quality)
            lines.append(
                f"| {share:g} | {seed} | {spend:.1%} | {quality:.1%} "
                f"| {this['online']['mean_cost_usd'] / ref['mean_cost_usd']:.1%} "
                f"| {this['online']['mean_quality'] / ref['mean_quality']:.1%} "
                f"| {this['budget']['final_cost_weight']:.1f} |"
            )
        lines.append(
            f"| {share:g} | mean | {statistics.fmean(spends):.1%} "
            f"(range {min(spends):.1%}-{max(spends):.1%}) | {statistics.fmean(qualities):.1%} "
            "| | | |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        epilog="Options after -- are passed to every replay, e.g. -- --learning-rate 0.1"
    )
    parser.add_argument("dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--plot", type=Path, help="plot of the first seed's run")
    # Split at "--" by hand: argparse cannot take a trailing positional list after options.
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1 :]

    with tempfile.TemporaryDirectory() as tmp:
        reports = [
            _run(args.dataset, seed, args.extra, Path(tmp), args.plot if i == 0 else None)
            for i, seed in enumerate(args.seeds)
        ]
    if all(run.get("budget") for run in reports[0]["runs"]):
        text = _budget_table(args, reports)
        print(text)
        if args.markdown:
            args.markdown.write_text(text + "\n")
        return 0
    weights = [run["cost_weight"] for run in reports[0]["runs"]]

    def stat(values: list[float]) -> tuple[float, float]:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    rows = []
    for index, weight in enumerate(weights):
        row: dict[str, Any] = {"cost_weight": weight}
        for part in ("holdout", "online", "supervised_reference"):
            q_rel = [
                r["runs"][index][part]["mean_quality"]
                / r["baselines"]["best_single_model"]["mean_quality"]
                for r in reports
            ]
            c_rel = [
                r["runs"][index][part]["mean_cost_usd"]
                / r["baselines"]["best_single_model"]["mean_cost_usd"]
                for r in reports
            ]
            row[part] = {"quality": stat(q_rel), "cost": stat(c_rel)}
        row["events_per_second"] = statistics.median(
            r["runs"][index]["events_per_second"] for r in reports
        )
        rows.append(row)

    best = reports[0]["baselines"]["best_single_model"]["model"]
    lines = [
        f"Dataset `{Path(args.dataset).name}`, seeds {args.seeds}, "
        f"{reports[0]['passes']} passes, holdout {reports[0]['holdout_fraction']}. "
        f"Quality and cost relative to the best single model on the holdout ({best}); "
        "mean ± standard deviation over seeds.",
        "",
        "| cost weight | holdout quality | holdout cost | online quality | online cost "
        "| supervised quality | supervised cost | replay events/s (median) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(pair: tuple[float, float]) -> str:
        return f"{pair[0]:.1%} ± {pair[1]:.1%}"

    for row in rows:
        lines.append(
            f"| {row['cost_weight']:g} | {fmt(row['holdout']['quality'])} "
            f"| {fmt(row['holdout']['cost'])} | {fmt(row['online']['quality'])} "
            f"| {fmt(row['online']['cost'])} | {fmt(row['supervised_reference']['quality'])} "
            f"| {fmt(row['supervised_reference']['cost'])} | {row['events_per_second']:,.0f} |"
        )

    holdout_ok = [
        r for r in rows if r["holdout"]["quality"][0] >= 0.95 and r["holdout"]["cost"][0] <= 0.30
    ]
    online_ok = [
        r for r in rows if r["online"]["quality"][0] >= 0.90 and r["online"]["cost"][0] <= 0.40
    ]
    bandit_points = [(r["holdout"]["cost"][0], r["holdout"]["quality"][0]) for r in rows]
    comparisons = []
    for r in rows:
        cost, quality = (
            r["supervised_reference"]["cost"][0],
            r["supervised_reference"]["quality"][0],
        )
        reached = _frontier_at(bandit_points, cost)
        comparisons.append((cost, quality, reached))
    speed = statistics.median(r["events_per_second"] for r in rows)
    lines += [
        "",
        "Targets (means over seeds):",
        f"- holdout >= 95% quality at <= 30% cost: "
        f"{'met' if holdout_ok else 'NOT met'} "
        f"(cost weights {[r['cost_weight'] for r in holdout_ok]})",
        f"- online >= 90% quality at <= 40% cost: "
        f"{'met' if online_ok else 'NOT met'} "
        f"(cost weights {[r['cost_weight'] for r in online_ok]})",
        "- bandit holdout frontier vs supervised reference at matched cost: "
        + "; ".join(
            f"at {c:.1%} cost supervised {q:.1%}, bandit "
            + ("n/a (cheaper than any bandit point)" if b is None else f"{b:.1%}")
            for c, q, b in comparisons
        ),
        f"- replay speed: median {speed:,.0f} events/s on one core",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
