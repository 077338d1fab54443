"""Budgets and cascades against the cost-weight frontier on RouterBench, as one PNG.

    PYTHONPATH=. .venv/bin/python benchmarks/routing_rules_plot.py \
        ../shared/data/routerbench_5shot_subset --seeds 0 1 2 3 4 --plot docs/routing_rules.png

Runs, per seed, exactly these replays (3 passes, 30% holdout, features ``text,task``):

- ``replay routerbench_5shot_subset.jsonl.gz --cost-weight 0 5 10 15 20 25 30 40 80``
- ``replay routerbench_5shot_subset.jsonl.gz --budget 0.2 0.3``
- ``replay routerbench_5shot_subset_responses.jsonl.gz --min-probability 0.05
  --cost-weight 66 --cascade '{Yi-34B or GPT-3.5 first, Mixtral probe, GPT-4}'``
- the same cascade with ``--budget 0.2`` instead of the cost weight

and plots each run's holdout quality against its holdout cost, relative to the best single
model (GPT-4) on the seed's holdout, with the issue's target boxes.
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

CASCADE = {
    "first": ["zero-one-ai/Yi-34B-Chat", "gpt-3.5-turbo-1106"],
    "probe": "mistralai/mixtral-8x7b-chat",
    "escalate": ["gpt-4-1106-preview"],
}
WEIGHTS = ["0", "5", "10", "15", "20", "25", "30", "40", "80"]


def _replay(dataset: Path, seed: int, extra: list[str], workdir: Path) -> Any:
    out = workdir / f"{dataset.name}-{seed}-{len(list(workdir.iterdir()))}.json"
    command = [sys.executable, "-m", "api.cli", "replay", str(dataset), "--seed", str(seed)]
    command += ["--json", str(out), "--quiet", "--features", "text,task", *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return json.loads(out.read_text())


def _relative(report: Any, section: dict[str, Any]) -> tuple[float, float]:
    best = report["baselines"]["best_single_model"]
    return (
        section["mean_cost_usd"] / best["mean_cost_usd"] * 100,
        section["mean_quality"] / best["mean_quality"] * 100,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="the routerbench_5shot_subset folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--plot", type=Path, required=True)
    args = parser.parse_args()
    plain = args.data / "routerbench_5shot_subset.jsonl.gz"
    answers = args.data / "routerbench_5shot_subset_responses.jsonl.gz"
    frontier: dict[float, list[tuple[float, float]]] = {}
    budgets: dict[float, list[tuple[float, float]]] = {}
    cascades: list[tuple[float, float]] = []
    budgeted: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        for seed in args.seeds:
            report = _replay(plain, seed, ["--cost-weight", *WEIGHTS], workdir)
            for run in report["runs"]:
                frontier.setdefault(run["cost_weight"], []).append(
                    _relative(report, run["holdout"])
                )
            report = _replay(plain, seed, ["--budget", "0.2", "0.3"], workdir)
            for run in report["runs"]:
                budgets.setdefault(run["budget"]["cost_share"], []).append(
                    _relative(report, run["holdout"])
                )
            extra = ["--min-probability", "0.05", "--cost-weight", "66"]
            report = _replay(answers, seed, [*extra, "--cascade", json.dumps(CASCADE)], workdir)
            cascades.append(_relative(report, report["runs"][0]["cascade"]["holdout"]))
            extra = ["--min-probability", "0.05", "--budget", "0.2"]
            report = _replay(answers, seed, [*extra, "--cascade", json.dumps(CASCADE)], workdir)
            budgeted.append(_relative(report, report["runs"][0]["cascade"]["holdout"]))
    _draw(args.plot, frontier, budgets, cascades, budgeted, len(args.seeds))
    for share, points in sorted(budgets.items()):
        print(f"budget {share}: " + ", ".join(f"{q:.1f}% at {c:.1f}%" for c, q in points))
    print("cascade W=66: " + ", ".join(f"{q:.1f}% at {c:.1f}%" for c, q in cascades))
    print("cascade, budget 0.2: " + ", ".join(f"{q:.1f}% at {c:.1f}%" for c, q in budgeted))


def _draw(
    path: Path,
    frontier: dict[float, list[tuple[float, float]]],
    budgets: dict[float, list[tuple[float, float]]],
    cascades: list[tuple[float, float]],
    budgeted: list[tuple[float, float]],
    seeds: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axes = plt.subplots(figsize=(9, 6))
    means = sorted(
        (statistics.fmean(c for c, _ in pts), statistics.fmean(q for _, q in pts))
        for pts in frontier.values()
    )
    for points in frontier.values():
        axes.scatter(*zip(*points, strict=True), color="lightgrey", s=12)
    axes.plot(*zip(*means, strict=True), color="grey", marker="o", label="cost weights (mean)")
    for (share, points), colour in zip(
        sorted(budgets.items()), ("tab:blue", "tab:green"), strict=False
    ):
        axes.scatter(
            *zip(*points, strict=True), color=colour, marker="s", label=f"budget {share:g}"
        )
    axes.scatter(*zip(*cascades, strict=True), color="tab:red", marker="^", label="cascade, W = 66")
    axes.scatter(
        *zip(*budgeted, strict=True), color="tab:purple", marker="v", label="cascade, budget 0.2"
    )
    for (low, high, floor), colour in (((18, 22, 93.5), "tab:blue"), ((27, 33, 95.0), "tab:green")):
        axes.add_patch(
            Rectangle((low, floor), high - low, 101 - floor, fill=False, ls="--", color=colour)
        )
    axes.add_patch(Rectangle((0, 95.0), 20, 6, fill=False, ls=":", color="tab:red"))
    axes.set_xlim(0, 60)
    axes.set_ylim(86, 101)
    axes.set_xlabel("holdout cost, % of GPT-4's")
    axes.set_ylabel("holdout quality, % of GPT-4's")
    axes.set_title(f"RouterBench subset, {seeds} seeds, features text,task (boxes: targets)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
