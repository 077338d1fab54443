"""The ``bandit-router`` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from api.cli_keys import add_keys_parser, run_keys
from api.cli_langfuse import add_langfuse_parser, run_langfuse
from api.cli_serve import add_serve_parser, run_serve
from api.service_client import ServiceError, fetch_json, open_service, quote

__all__ = ["main"]

ENV_URL = "BANDIT_ROUTER_URL"
ENV_KEY = "BANDIT_ROUTER_KEY"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bandit-router", description="A self-hosted LLM router that learns."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(commands)
    _add_replay(commands)
    _add_experiments(commands)
    evaluate = commands.add_parser(
        "evaluate", help="off-policy evaluation of a policy on its own log (calls the HTTP API)"
    )
    evaluate.add_argument("policy")
    _add_remote(evaluate)
    evaluate.add_argument("--since", type=float, help="epoch seconds")
    evaluate.add_argument("--until", type=float, help="epoch seconds")
    evaluate.add_argument("--resamples", type=int, default=200)
    evaluate.add_argument(
        "--no-counterfactual", action="store_true", help="skip the alternative configurations"
    )
    _add_export(commands)
    _add_drift(commands)
    add_keys_parser(commands)
    add_langfuse_parser(commands)
    return parser


def _add_remote(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--key`` for commands that call a running service."""
    parser.add_argument(
        "--url",
        default=os.environ.get(ENV_URL, "http://127.0.0.1:8000"),
        help=f"the service (default ${ENV_URL}, else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get(ENV_KEY),
        help=f"the API key to send (default ${ENV_KEY})",
    )


def _add_experiments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    experiments = commands.add_parser(
        "experiments", help="gate a new model on a running service (calls its HTTP API)"
    )
    _add_remote(experiments)
    actions = experiments.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="start an experiment")
    create.add_argument("policy")
    create.add_argument("candidate")
    create.add_argument("--stages", type=float, nargs="+", help="default 0.10 0.25 0.50 1.00")
    create.add_argument("--min-feedback-per-stage", type=int)
    create.add_argument("--margin", type=float, help="non-inferiority margin on reward")
    create.add_argument("--alpha", type=float)
    create.add_argument("--replaces", help="replace this incumbent (mode replace)")
    for name in (
        "max-quality-drop",
        "max-cost-ratio",
        "max-latency-p95-ratio",
        "max-error-rate-increase",
    ):
        create.add_argument(f"--{name}", type=float, help="guardrail")
    listing = actions.add_parser("list", help="list experiments")
    listing.add_argument("--policy")
    for action in ("show", "promote", "rollback", "pause", "resume"):
        actions.add_parser(action, help=f"{action} an experiment").add_argument("id")


def _add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="stream a policy's decisions with feedback as VW DSJSON or JSON Lines",
        description="Stream decisions created at SINCE <= time < UNTIL from a running service. "
        "DSJSON (default) is Vowpal Wabbit's --dsjson input for --cb_explore_adf and leaves out "
        "decisions without a joined reward unless --unlabeled include; JSON Lines is the full "
        "log with feedback and reward.",
    )
    export.add_argument("policy")
    export.add_argument("--format", choices=("dsjson", "jsonl"), default="dsjson")
    export.add_argument("--since", help="epoch seconds or ISO 8601 time (inclusive)")
    export.add_argument("--until", help="epoch seconds or ISO 8601 time (exclusive)")
    export.add_argument(
        "--unlabeled",
        choices=("skip", "include"),
        help="decisions without a joined reward (default: skip for dsjson, include for jsonl)",
    )
    _add_remote(export)
    export.add_argument("--output", type=Path, help="write here instead of standard output")


def _add_drift(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drift = commands.add_parser(
        "drift",
        help="how a policy drifts over time: shares, outcomes, feature shift, KPIs and flags",
        description="Print a running service's drift report for POLICY as JSON: per time bucket "
        "model shares, reward, quality, cost, latency, feedback rate and delay, feature shift "
        "(PSI against the first bucket) and policy versions; KPIs per policy and per value of a "
        "caller feature; flags for significant reward drops and feature shifts.",
    )
    drift.add_argument("policy")
    drift.add_argument("--since", help="epoch seconds or ISO 8601 time (inclusive)")
    drift.add_argument("--until", help="epoch seconds or ISO 8601 time (exclusive)")
    drift.add_argument("--bucket-seconds", type=float, help="bucket width (default 3600)")
    drift.add_argument("--success-threshold", type=float, help="quality of a success (0.7)")
    drift.add_argument("--psi-threshold", type=float, help="PSI that flags a shift (0.2)")
    drift.add_argument("--group-by", help="caller feature for per-group KPIs (default task)")
    _add_remote(drift)


def _add_replay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from api.replay.defaults import COST_WEIGHTS
    from bandit.settings import ALGORITHMS, ExplorationSettings

    defaults = ExplorationSettings()
    replay = commands.add_parser(
        "replay",
        help="evaluate the router offline on a dataset (bandit feedback)",
        description="Stream a dataset through the router's policy, feature and reward code, "
        "revealing only the chosen model's outcome, and report what users would have got.",
    )
    replay.add_argument("dataset", type=Path, help="gzip JSON Lines in the replay format")
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
    replay.add_argument("--json", type=Path, help="write the JSON report here")
    replay.add_argument("--plot", type=Path, help="write a PNG plot here")
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "serve": run_serve,
        "replay": _replay,
        "experiments": _experiments,
        "evaluate": _evaluate,
        "export": _export,
        "drift": _drift,
        "keys": run_keys,
        "langfuse": run_langfuse,
    }
    try:
        return commands[args.command](args)
    except ServiceError as error:
        action = getattr(args, "action", None)
        name = f"{args.command} {action}" if action else args.command
        print(f"bandit-router {name}: {error}", file=sys.stderr)
        return 1


def _evaluate(args: argparse.Namespace) -> int:
    query: dict[str, object] = {"resamples": args.resamples}
    if args.since is not None:
        query["since"] = args.since
    if args.until is not None:
        query["until"] = args.until
    if args.no_counterfactual:
        query["counterfactual"] = "false"
    path = f"/v1/policies/{quote(args.policy)}/evaluation"
    report = fetch_json(args.url, path, key=args.key, query=query, timeout=600)
    print(
        f"{report['policy']}: {report['decisions']} rewarded decisions, observed mean reward "
        f"{report['observed_mean_reward']:.4f}"
    )
    print(f"{'target':<52} {'IPS':>8} {'SNIPS':>8} {'DR':>8} {'DR 95% interval':>20} {'ESS':>8}")
    for target in report["targets"]:
        reward = target["reward"]
        dr = reward["doubly_robust"]
        print(
            f"{target['name']:<52} {reward['ips']['value']:>8.4f} "
            f"{reward['snips']['value']:>8.4f} {dr['value']:>8.4f} "
            f"{'[' + format(dr['lower'], '.4f') + ', ' + format(dr['upper'], '.4f') + ']':>20} "
            f"{dr['effective_sample_size']:>8.1f}"
        )
    print(report["verdict"])
    return 0


def _experiments(args: argparse.Namespace) -> int:
    import json

    body: dict[str, object] | None = None
    method, path = "GET", "/v1/experiments/"
    if args.action == "create":
        method = "POST"
        body = {"policy": args.policy, "candidate": args.candidate}
        optional = {
            "stages": args.stages,
            "min_feedback_per_stage": args.min_feedback_per_stage,
            "margin": args.margin,
            "alpha": args.alpha,
        }
        body |= {k: v for k, v in optional.items() if v is not None}
        if args.replaces:
            body |= {"mode": "replace", "replaces": args.replaces}
        guardrails = {
            name: getattr(args, name)
            for name in (
                "max_quality_drop",
                "max_cost_ratio",
                "max_latency_p95_ratio",
                "max_error_rate_increase",
            )
            if getattr(args, name) is not None
        }
        if guardrails:
            body["guardrails"] = guardrails
    elif args.action == "show":
        path += quote(args.id)
    elif args.action != "list":
        method, path = "POST", f"{path}{quote(args.id)}/{args.action}"
    query = {"policy": args.policy} if args.action == "list" and args.policy else None
    answer = fetch_json(
        args.url, path, key=args.key, query=query, method=method, body=body, timeout=30
    )
    print(json.dumps(answer, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    import shutil

    query = {"format": args.format}
    query |= {
        name: getattr(args, name)
        for name in ("since", "until", "unlabeled")
        if getattr(args, name) is not None
    }
    path = f"/v1/policies/{quote(args.policy)}/export"
    with open_service(args.url, path, key=args.key, query=query) as response:
        if args.output is None:
            shutil.copyfileobj(response, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return 0
        # A crash mid-stream must not leave a truncated file under the final name.
        partial = args.output.with_name(args.output.name + ".partial")
        try:
            with partial.open("wb") as file:
                shutil.copyfileobj(response, file)
            partial.replace(args.output)
        except OSError as error:
            raise ServiceError(f"cannot write {args.output}: {error}") from error
    return 0


def _drift(args: argparse.Namespace) -> int:
    import json

    names = ("since", "until", "bucket_seconds", "success_threshold", "psi_threshold", "group_by")
    query = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    path = f"/v1/policies/{quote(args.policy)}/drift"
    print(json.dumps(fetch_json(args.url, path, key=args.key, query=query, timeout=120), indent=2))
    return 0


def _replay(args: argparse.Namespace) -> int:
    import json

    from tqdm import tqdm

    from api.replay.cascade import cascade_lines, parse_cascade
    from api.replay.dataset import load_dataset
    from api.replay.plot import plot_report
    from api.replay.report import to_json, to_table
    from api.replay.runner import ReplayOptions, run_replay
    from bandit.settings import ExplorationSettings
    from features import FeatureSettings, WordLlamaEmbedder

    chosen = {name.strip() for name in args.features.split(",") if name.strip()}
    unknown = chosen - {"text", "words", "embedding", "task"}
    try:
        if unknown:
            raise ValueError(f"Unknown feature sets {sorted(unknown)}.")
        options = ReplayOptions(
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
    if options.cascade is not None:
        best = report.baselines.per_model[report.baselines.best_single_model]
        cascades = [
            (f"{r.cost_weight:g}" if r.budget is None else f"b={r.budget.budget.cost_share:g}", c)
            for r in report.runs
            if (c := r.cascade) is not None
        ]
        print("\n".join(cascade_lines(cascades, best.mean_quality, best.mean_cost_usd)))
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
