"""``bandit-router decisions show``: one logged decision with its feedback and reward."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli.options import Commands, Uses, add_command
from api.cli.output import fixed, key_values, print_json, table, when
from api.cli.service import connect

__all__ = ["add_parser", "render", "run"]


def add_parser(commands: Commands) -> None:
    uses: list[Uses] = ["remote", "output"]
    decisions = add_command(
        commands,
        "decisions",
        help="show a logged decision: its pmf, feedback and joined reward",
        examples=["decisions show DECISION_ID"],
        uses=uses,
    )
    actions = decisions.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_command(
        actions,
        "show",
        help="one decision: the pmf it drew from, its feedback and joined reward",
        examples=["decisions show DECISION_ID", "decisions show DECISION_ID --json"],
        uses=uses,
    ).add_argument("id")
    decisions.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        answer = client.as_json(client.decision, args.id)
    if args.as_json:
        print_json(answer)
    else:
        print(render(answer))
    return 0


def render(decision: dict[str, Any]) -> str:
    reward = decision.get("reward")
    lines = [
        key_values(
            [
                ("decision", decision["decision_id"]),
                (
                    "policy",
                    f"{decision['policy']} version {decision['policy_version']} "
                    f"(revision {decision['policy_revision']})",
                ),
                ("model", f"{decision['model']} (probability {decision['probability']:.4f})"),
                ("created", f"{when(decision['created_at'])} UTC"),
                ("join", decision["join_status"]),
                (
                    "reward",
                    None
                    if not reward
                    else f"{reward['reward']:.4f} (quality {fixed(reward['quality']) or '-'}, "
                    f"cost {fixed(reward['cost_usd'], 6) or '-'} USD)",
                ),
                ("experiment", _experiment(decision.get("experiment"))),
            ]
        ),
        "",
        table(
            ["candidate", "probability"],
            [[r["model"], fixed(r["probability"])] for r in decision["ranking"]],
        ),
    ]
    feedback: list[dict[str, Any]] = decision.get("feedback") or []
    if feedback:
        rows = [
            [
                when(f["created_at"]),
                f["source"],
                fixed(f["score"], 3),
                fixed(f["cost_usd"], 6),
                f["latency_ms"],
                f["error"],
                "void" if f["voided_at"] else ("late" if f["late"] else None),
            ]
            for f in feedback
        ]
        headers = ["at (UTC)", "source", "score", "cost USD", "latency ms", "error", "note"]
        lines += ["", table(headers, rows)]
    return "\n".join(lines)


def _experiment(experiment: dict[str, Any] | None) -> str | None:
    if not experiment:
        return None
    return f"{experiment.get('id')} ({experiment.get('arm')} arm)"
