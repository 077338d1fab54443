"""``bandit-router experiments``: gate a new model on a running service."""

from __future__ import annotations

import argparse
from typing import Any, cast

import msgspec

from api.cli.options import Commands, Uses, add_command
from api.cli.output import key_values, percent, print_json, table, when
from api.cli.service import connect
from api.client import ExperimentAction, ExperimentIn, GuardrailsIn

__all__ = ["add_parser", "run"]

_GUARDRAILS = (
    "max_quality_drop",
    "max_cost_ratio",
    "max_latency_p95_ratio",
    "max_error_rate_increase",
)
_ACTIONS = {
    "promote": "move an experiment to its next stage now",
    "rollback": "end an experiment and take the candidate out",
    "pause": "stop sending the candidate traffic for now",
    "resume": "send a paused experiment's candidate traffic again",
}


def add_parser(commands: Commands) -> None:
    uses: list[Uses] = ["remote", "output"]
    experiments = add_command(
        commands,
        "experiments",
        help="gate a new model on a running service: create, list, show, promote, roll back",
        examples=[
            "experiments create default new-model --max-cost-ratio 2",
            "experiments list --policy default",
            "experiments show EXPERIMENT_ID --json",
        ],
        uses=uses,
    )
    actions = experiments.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = add_command(
        actions,
        "create",
        help="start an experiment: the candidate gets the first stage's share of traffic",
        examples=[
            "experiments create default new-model --stages 0.1 0.5 1 --max-cost-ratio 2",
            "experiments create default new-model --replaces old-model --margin 0.05",
        ],
        uses=uses,
    )
    create.add_argument("policy")
    create.add_argument("candidate")
    create.add_argument("--stages", type=float, nargs="+", help="default 0.10 0.25 0.50 1.00")
    create.add_argument("--min-feedback-per-stage", type=int)
    create.add_argument("--margin", type=float, help="non-inferiority margin on reward")
    create.add_argument("--alpha", type=float)
    create.add_argument("--replaces", help="replace this incumbent (mode replace)")
    for name in _GUARDRAILS:
        create.add_argument(f"--{name.replace('_', '-')}", type=float, help="guardrail")
    listing = add_command(
        actions,
        "list",
        help="list experiments, newest first",
        examples=["experiments list --policy default"],
        uses=uses,
    )
    listing.add_argument("--policy", help="only this policy's experiments")
    show = add_command(
        actions,
        "show",
        help="an experiment with its arms, last evaluation and history",
        examples=["experiments show EXPERIMENT_ID"],
        uses=uses,
    )
    show.add_argument("id")
    for action, what in _ACTIONS.items():
        add_command(
            actions, action, help=what, examples=[f"experiments {action} EXPERIMENT_ID"], uses=uses
        ).add_argument("id")
    experiments.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.action == "create":
            answer = client.as_json(client.create_experiment, _create_body(args))
        elif args.action == "list":
            answer = client.as_json(client.experiments, args.policy)
        elif args.action == "show":
            answer = client.as_json(client.experiment, args.id)
        else:
            action = cast(ExperimentAction, args.action)  # one of _ACTIONS, by the parser
            answer = client.as_json(client.experiment_action, args.id, action)
    if args.as_json:
        print_json(answer)
    elif args.action == "list":
        print(render_list(answer))
    else:
        print(render_one(answer))
    return 0


def _create_body(args: argparse.Namespace) -> ExperimentIn:
    """The options given, over the input's own defaults (the service checks the values)."""
    given = {
        "stages": args.stages,
        "min_feedback_per_stage": args.min_feedback_per_stage,
        "margin": args.margin,
        "alpha": args.alpha,
    }
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if args.replaces:
        changes |= {"mode": "replace", "replaces": args.replaces}
    guardrails = {g: getattr(args, g) for g in _GUARDRAILS if getattr(args, g) is not None}
    if guardrails:
        changes["guardrails"] = GuardrailsIn(**guardrails)
    base = ExperimentIn(policy=args.policy, candidate=args.candidate)
    return msgspec.structs.replace(base, **changes)


def render_list(experiments: list[dict[str, Any]]) -> str:
    if not experiments:
        return "no experiments"
    rows = [
        [
            e["id"],
            e["policy"],
            e["candidate"],
            e["mode"] if e["replaces"] is None else f"replace {e['replaces']}",
            e["status"],
            f"{e['stage'] + 1}/{len(e['stages'])}",
            percent(e["share"]),
            when(e["updated_at"]),
        ]
        for e in experiments
    ]
    headers = ["id", "policy", "candidate", "mode", "status", "stage", "share", "updated (UTC)"]
    return table(headers, rows)


def render_one(experiment: dict[str, Any]) -> str:
    guardrails = {k: v for k, v in experiment["guardrails"].items() if v is not None}
    lines = [
        key_values(
            [
                ("id", experiment["id"]),
                ("policy", experiment["policy"]),
                ("candidate", experiment["candidate"]),
                ("mode", experiment["mode"]),
                ("replaces", experiment["replaces"]),
                ("status", experiment["status"]),
                (
                    "stage",
                    f"{experiment['stage'] + 1} of {len(experiment['stages'])} "
                    f"(share {percent(experiment['share'])})",
                ),
                ("stages", ", ".join(f"{s:g}" for s in experiment["stages"])),
                ("min feedback", f"{experiment['min_feedback_per_stage']} per stage"),
                ("margin, alpha", f"{experiment['margin']:g}, {experiment['alpha']:g}"),
                ("guardrails", ", ".join(f"{k} {v:g}" for k, v in guardrails.items()) or None),
                ("updated", f"{when(experiment['updated_at'])} UTC"),
            ]
        )
    ]
    arms: dict[str, dict[str, Any]] | None = experiment.get("arms")
    if arms:
        rows = [
            [
                arm,
                stats["feedback"],
                stats["mean_reward"],
                stats["mean_quality"],
                stats["mean_cost_usd"],
                percent(stats["error_rate"]),
                stats["latency_p95_ms"],
            ]
            for arm, stats in arms.items()
        ]
        headers = ["arm", "feedback", "reward", "quality", "cost USD", "errors", "p95 ms"]
        lines += ["", table(headers, rows)]
    last = experiment.get("last_evaluation")
    if last:
        lines += ["", f"last evaluation: {last['action']}: {last['reason']}"]
    history: list[dict[str, Any]] = experiment.get("history") or []
    if history:
        rows = [
            [
                when(h["at"]),
                h["action"],
                f"{h['from_status']} -> {h['to_status']}",
                "yes" if h["manual"] else "no",
                h["reason"],
            ]
            for h in history
        ]
        lines += ["", table(["at (UTC)", "action", "status", "manual", "reason"], rows)]
    return "\n".join(lines)
