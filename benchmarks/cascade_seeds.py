"""Cascade replays over several seeds: the holdout figures of each seed and their means.

    .venv/bin/python benchmarks/cascade_seeds.py \
        ../shared/data/routerbench_5shot_subset/routerbench_5shot_subset_responses.jsonl.gz \
        --seeds 0 1 2 3 4 --markdown docs/cascade_table.md -- \
        --features text,task --cost-weight 60 \
        --cascade '{"first": [...], "probe": "...", "escalate": [...]}'

Each seed runs ``bandit-router replay DATASET --seed S --json ...`` as a subprocess (the exact
product command, options after ``--`` passed through), then this script aggregates the
``"cascade"`` section of every run, relative to the best single model on each seed's holdout.
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


def _run(dataset: str, seed: int, extra: list[str], workdir: Path) -> Any:
    out = workdir / f"seed{seed}.json"
    command = [sys.executable, "-m", "api.cli", "replay", dataset, "--seed", str(seed)]
    command += ["--json", str(out), "--quiet", *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603
    return json.loads(out.read_text())


def _pct(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1%} ± {spread:.1%}"


def _label(run: Any) -> str:
    """A run's cost weight, or ``budget SHARE`` (a budget run's weight differs per seed)."""
    if run.get("budget") is not None:
        return f"budget {run['budget']['cost_share']:g}"
    return f"{run['cost_weight']:g}"


def _budget_lines(reports: list[Any], seeds: list[int]) -> list[str]:
    """Per seed, each budget run's cascade: holdout and online spend and quality relative to
    the best single model on that seed's holdout, as the budget tables in docs/results.md."""
    lines: list[str] = []
    for index, run in enumerate(reports[0]["runs"]):
        if "cascade" not in run or run["cascade"].get("budget") is None:
            continue
        if not lines:
            lines = [
                "",
                "Cascades under a budget (spend and quality relative to the best single model "
                "on each seed's holdout):",
                "",
                "| budget | seed | holdout spend | holdout quality | escalated | online spend "
                "| online quality | final cost weight |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
        spends, qualities = [], []
        for seed, report in zip(seeds, reports, strict=True):
            reference = report["baselines"]["best_single_model"]
            this = report["runs"][index]
            cascade = this["cascade"]
            holdout, online = cascade["holdout"], cascade["online"]
            spends.append(holdout["mean_cost_usd"] / reference["mean_cost_usd"])
            qualities.append(holdout["mean_quality"] / reference["mean_quality"])
            lines.append(
                f"| {this['budget']['cost_share']:g} | {seed} | {spends[-1]:.1%} "
                f"| {qualities[-1]:.1%} | {holdout['escalation_rate']:.1%} "
                f"| {online['mean_cost_usd'] / reference['mean_cost_usd']:.1%} "
                f"| {online['mean_quality'] / reference['mean_quality']:.1%} "
                f"| {cascade['budget']['final_cost_weight']:.1f} |"
            )
        lines.append(
            f"| {run['budget']['cost_share']:g} | mean | {statistics.fmean(spends):.1%} (range "
            f"{min(spends):.1%}-{max(spends):.1%}) | {statistics.fmean(qualities):.2%} | | | | |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(epilog="Options after -- are passed to every replay.")
    parser.add_argument("dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--json", type=Path, help="write every seed's report here, as a list")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    extra = argv[cut + 1 :]
    with tempfile.TemporaryDirectory() as tmp:
        reports = [_run(args.dataset, seed, extra, Path(tmp)) for seed in args.seeds]
    if args.json:
        args.json.write_text(json.dumps(reports) + "\n")
    best = reports[0]["baselines"]["best_single_model"]["model"]
    lines = [
        f"Dataset `{Path(args.dataset).name}`, seeds {args.seeds}, {reports[0]['passes']} "
        f"passes, holdout {reports[0]['holdout_fraction']}. Holdout quality and cost relative "
        f"to the best single model ({best}) on each seed's holdout; mean ± standard deviation.",
        "",
        "| cost weight | cascade quality | cascade cost | escalated | per seed (quality / cost) "
        "| prompt-only quality | prompt-only cost |",
        "|---:|---:|---:|---:|---|---:|---:|",
    ]
    for index, run in enumerate(reports[0]["runs"]):
        if "cascade" not in run:
            continue
        q, c, e, pq, pc = [], [], [], [], []
        for report in reports:
            reference = report["baselines"]["best_single_model"]
            this = report["runs"][index]
            holdout = this["cascade"]["holdout"]
            q.append(holdout["mean_quality"] / reference["mean_quality"])
            c.append(holdout["mean_cost_usd"] / reference["mean_cost_usd"])
            e.append(holdout["escalation_rate"])
            pq.append(this["holdout"]["mean_quality"] / reference["mean_quality"])
            pc.append(this["holdout"]["mean_cost_usd"] / reference["mean_cost_usd"])
        seeds = ", ".join(f"{a:.1%} / {b:.1%}" for a, b in zip(q, c, strict=True))
        lines.append(
            f"| {_label(run)} | {_pct(q)} | {_pct(c)} | {_pct(e)} | {seeds} "
            f"| {_pct(pq)} | {_pct(pc)} |"
        )
    lines += ["", "Holdout escalation rate and first-stage shares per source (mean over seeds):"]
    for index, run in enumerate(reports[0]["runs"]):
        if "cascade" not in run:
            continue
        holdouts = [report["runs"][index]["cascade"]["holdout"] for report in reports]
        rates = {
            source: statistics.fmean(h["escalation_rate_by_source"][source] for h in holdouts)
            for source in holdouts[0]["escalation_rate_by_source"]
        }
        shares = {
            model: statistics.fmean(h["first_share"][model] for h in holdouts)
            for model in holdouts[0]["first_share"]
        }
        lines.append(
            f"- {'' if run.get('budget') else 'cost weight '}{_label(run)}: escalated "
            + ", ".join(f"{s} {r:.1%}" for s, r in rates.items())
            + "; first model "
            + ", ".join(f"{m} {s:.1%}" for m, s in shares.items())
        )
    lines += _budget_lines(reports, args.seeds)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
