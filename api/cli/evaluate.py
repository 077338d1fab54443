"""``bandit-router evaluate``: off-policy evaluation of a policy on its own log."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli.options import Commands, add_command
from api.cli.output import fixed, print_json, table
from api.cli.service import connect

__all__ = ["add_parser", "render", "run"]


def add_parser(commands: Commands) -> None:
    evaluate = add_command(
        commands,
        "evaluate",
        help="off-policy evaluation of a policy on its own log (calls the HTTP API)",
        description="Estimate from a running service's log what the policy, uniform routing, "
        "each single model and alternative configurations would have earned (IPS, SNIPS and "
        "doubly robust, with bootstrap intervals and effective sample sizes), and say whether "
        "the router pays off.",
        examples=[
            "evaluate default --resamples 500",
            "evaluate default --since 1764547200 --no-counterfactual --json",
        ],
        uses=["remote", "output"],
    )
    evaluate.add_argument("policy")
    evaluate.add_argument("--since", type=float, help="epoch seconds")
    evaluate.add_argument("--until", type=float, help="epoch seconds")
    evaluate.add_argument("--resamples", type=int, default=200, help="bootstrap resamples")
    evaluate.add_argument(
        "--no-counterfactual", action="store_true", help="skip the alternative configurations"
    )
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        report = client.as_json(
            client.evaluation,
            args.policy,
            since=args.since,
            until=args.until,
            resamples=args.resamples,
            # Unset unless refused: the service's default (on) stays the one place it is said.
            counterfactual=False if args.no_counterfactual else None,
        )
    if args.as_json:
        print_json(report)
    else:
        print(render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    rows = []
    for target in report["targets"]:
        reward = target["reward"]
        dr = reward["doubly_robust"]
        rows.append(
            [
                target["name"],
                fixed(reward["ips"]["value"]),
                fixed(reward["snips"]["value"]),
                fixed(dr["value"]),
                f"[{dr['lower']:.4f}, {dr['upper']:.4f}]",
                f"{dr['effective_sample_size']:.1f}",
            ]
        )
    headers = ["target", "IPS", "SNIPS", "DR", "DR 95% interval", "ESS"]
    return "\n".join(
        [
            f"{report['policy']}: {report['decisions']} rewarded decisions, observed mean "
            f"reward {report['observed_mean_reward']:.4f}",
            "",
            table(headers, rows),
            "",
            report["verdict"],
        ]
    )
