"""``bandit-router replay``: evaluate the router offline on a dataset, with bandit feedback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.options import Commands, add_command

if TYPE_CHECKING:
    from api.replay.runner import ReplayOptions, ReplayReport

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    replay = add_command(
        commands,
        "replay",
        help="evaluate the router offline on a dataset (bandit feedback)",
        description="Stream a dataset through the router's policy, feature and reward code, "
        "revealing only the chosen model's outcome, and report what users would have got.",
        examples=[
            "replay routerbench.jsonl.gz --cost-weight 0 10 --json report.json",
            "replay DATASET --budget 0.2 --seed 1 --plot frontier.png",
        ],
    )
    replay.add_argument(
        "dataset",
        type=Path,
        help='gzip JSON Lines, one prompt per line: {"id", "prompt", "source", "models": '
        '{model: {"quality", "cost_usd", "latency_s", "response"}}}',
    )
    _add_runs(replay)
    replay.add_argument("--json", type=Path, help="write the JSON report here")
    replay.add_argument("--plot", type=Path, help="write a PNG plot here")
    _add_exploration(replay)
    replay.add_argument(
        "--features",
        default="text,embedding,task",
        help="comma-separated from text, words, embedding, task (default: text,embedding,task)",
    )
    replay.add_argument(
        "--cascade",
        metavar="JSON",
        help="also simulate a learned cascade at each cost weight and under each budget, e.g. "
        '\'{"first": ["yi"], "probe": "mixtral", "escalate": ["gpt-4"]}\' (the dataset must '
        "carry each model's response)",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=run)


def _add_runs(replay: argparse.ArgumentParser) -> None:
    """Which runs: cost weights and budgets, passes, the holdout, the seed."""
    from api.replay.defaults import COST_WEIGHTS

    replay.add_argument(
        "--cost-weight",
        type=float,
        nargs="+",
        action="extend",
        dest="cost_weights",
        metavar="W",
        help="reward = quality - W * cost_usd; several give a frontier (default: "
        + " ".join(f"{w:g}" for w in COST_WEIGHTS)
        + ")",
    )
    replay.add_argument(
        "--budget",
        type=float,
        nargs="+",
        action="extend",
        dest="budgets",
        metavar="SHARE",
        help="a budget run per SHARE: spend SHARE of the best single model's mean cost per "
        "prompt on the training split, with the cost weight controlled online (no cost-weight "
        "runs unless --cost-weight is also given)",
    )
    replay.add_argument("--passes", type=int, default=3, help="online passes (default 3)")
    replay.add_argument(
        "--holdout",
        type=float,
        default=0.3,
        help="fraction of prompts never learned from (default 0.3)",
    )
    replay.add_argument("--seed", type=int, default=0)


def _add_exploration(replay: argparse.ArgumentParser) -> None:
    """The policy's exploration settings, defaulting to a server policy's."""
    from bandit.settings import ALGORITHMS, ExplorationSettings

    defaults = ExplorationSettings()
    replay.add_argument("--algorithm", choices=ALGORITHMS, default=defaults.algorithm)
    replay.add_argument("--epsilon", type=float, default=defaults.epsilon)
    replay.add_argument("--gamma-scale", type=float, default=defaults.gamma_scale)
    replay.add_argument("--gamma-exponent", type=float, default=defaults.gamma_exponent)
    replay.add_argument("--min-probability", type=float, default=defaults.min_probability)
    replay.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    replay.add_argument(
        "--learning-rate-decay",
        type=float,
        default=defaults.learning_rate_decay,
        help="VW power_t; 0 = constant rate, forgets old evidence",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from api.replay.dataset import load_dataset
    from api.replay.plot import plot_report
    from api.replay.report import to_json, to_table
    from api.replay.runner import run_replay
    from features import WordLlamaEmbedder

    try:
        options = _options(args)
        rows = load_dataset(args.dataset)
    except (ValueError, OSError) as error:  # DatasetError is a ValueError
        print(f"bandit-router replay: {error}", file=sys.stderr)
        return 2
    embedder = WordLlamaEmbedder() if options.features.embedding else None
    runs = len(options.cost_weights) + len(options.budgets)
    total = runs * options.passes * round(len(rows) * (1 - options.holdout))
    with tqdm(total=total, unit="event", disable=args.quiet or None, file=sys.stderr) as bar:

        def advance(events: int) -> None:
            bar.update(events)

        try:
            report = run_replay(rows, options, embedder=embedder, progress=advance)
        except ValueError as error:  # e.g. a cascade on a dataset without responses
            print(f"bandit-router replay: {error}", file=sys.stderr)
            return 2
    print(to_table(report, str(args.dataset)))
    _print_cascades(report)
    rates = sorted(run.events_per_second for run in report.runs)
    print(
        f"\nreplay speed: median {rates[len(rates) // 2]:,.0f} events/s over "
        f"{len(rates)} runs on one core (featurising took {report.featurise_seconds:.1f} s)"
    )
    if args.json:
        args.json.write_text(json.dumps(to_json(report, str(args.dataset)), indent=2) + "\n")
    if args.plot:
        plot_report(
            report,
            args.plot,
            f"bandit-router replay: {args.dataset.name}, "
            f"seed {options.seed}, {options.passes} passes",
        )
    return 0


def _options(args: argparse.Namespace) -> ReplayOptions:
    """The replay's options from the command line; a ValueError names a bad one."""
    from api.replay.cascade import parse_cascade
    from api.replay.runner import ReplayOptions
    from bandit.settings import ExplorationSettings
    from features import FeatureSettings

    chosen = {name.strip() for name in args.features.split(",") if name.strip()}
    unknown = chosen - {"text", "words", "embedding", "task"}
    if unknown:
        raise ValueError(f"Unknown feature sets {sorted(unknown)}.")
    return ReplayOptions(
        cost_weights=tuple(
            args.cost_weights or (() if args.budgets else ReplayOptions().cost_weights)
        ),
        budgets=tuple(args.budgets or ()),
        passes=args.passes,
        holdout=args.holdout,
        seed=args.seed,
        exploration=ExplorationSettings(
            algorithm=args.algorithm,
            epsilon=args.epsilon,
            gamma_scale=args.gamma_scale,
            gamma_exponent=args.gamma_exponent,
            min_probability=args.min_probability,
            learning_rate=args.learning_rate,
            learning_rate_decay=args.learning_rate_decay,
            seed=args.seed,
        ),
        features=FeatureSettings(
            text="text" in chosen, words="words" in chosen, embedding="embedding" in chosen
        ),
        task_feature="task" in chosen,
        cascade=None if args.cascade is None else parse_cascade(args.cascade),
    )


def _print_cascades(report: ReplayReport) -> None:
    """Each simulated cascade's line, when the replay simulated one."""
    from api.replay.cascade import cascade_lines

    if report.options.cascade is None:
        return
    best = report.baselines.per_model[report.baselines.best_single_model]
    cascades = [
        (f"{r.cost_weight:g}" if r.budget is None else f"b={r.budget.budget.cost_share:g}", c)
        for r in report.runs
        if (c := r.cascade) is not None
    ]
    print("\n".join(cascade_lines(cascades, best.mean_quality, best.mean_cost_usd)))
