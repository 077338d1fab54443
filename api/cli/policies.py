"""``bandit-router policies``: the policies of a running service and their versions."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli.options import Commands, Uses, add_command
from api.cli.output import key_values, print_json, table, when
from api.cli.service import connect

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    uses: list[Uses] = ["remote", "output"]
    policies = add_command(
        commands,
        "policies",
        help="list policies, show one, or list its learned versions",
        examples=["policies list", "policies show default", "policies versions default"],
        uses=uses,
    )
    actions = policies.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_command(
        actions,
        "list",
        help="every policy: models, exploration, learning progress",
        examples=["policies list", "policies list --json | jq '.[].name'"],
        uses=uses,
    )
    add_command(
        actions,
        "show",
        help="one policy's configuration and learner",
        examples=["policies show default"],
        uses=uses,
    ).add_argument("name")
    add_command(
        actions,
        "versions",
        help="a policy's stored versions (snapshots), the live one marked",
        examples=["policies versions default"],
        uses=uses,
    ).add_argument("name")
    policies.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.action == "list":
            answer = client.as_json(client.policies)
            text = render_list(answer)
        elif args.action == "show":
            answer = client.as_json(client.policy, args.name)
            text = render_one(answer)
        else:
            answer = client.as_json(client.policy_versions, args.name)
            text = render_versions(answer)
    if args.as_json:
        print_json(answer)
    else:
        print(text)
    return 0


def render_list(policies: list[dict[str, Any]]) -> str:
    if not policies:
        return "no policies"
    rows = [
        [
            p["name"],
            p["version"],
            p["revision"],
            p["exploration"]["algorithm"],
            _cost(p),
            p["learner"]["learned_interactions"],
            p["learner"]["lag"],
            p["models"],
        ]
        for p in policies
    ]
    headers = ["policy", "version", "revision", "algorithm", "cost", "learned", "lag", "models"]
    return table(headers, rows)


def render_one(policy: dict[str, Any]) -> str:
    reward = policy["reward"]
    exploration = policy["exploration"]
    learner = policy["learner"]
    sources = ", ".join(
        f"{name} (weight {s['weight']:g}, {s['aggregation']})"
        for name, s in reward["sources"].items()
    )
    return key_values(
        [
            ("policy", policy["name"]),
            ("version", f"{policy['version']} (revision {policy['revision']})"),
            ("models", ", ".join(policy["models"])),
            ("exploration", _exploration(exploration)),
            ("reward window", f"{reward['wait_seconds']:g} s"),
            ("cost", _cost(policy)),
            ("latency weight", reward["latency_weight"]),
            ("default reward", reward["default_reward"]),
            ("sources", sources or None),
            (
                "learned",
                f"{learner['learned_interactions']} interactions, lag {learner['lag']}, "
                f"quarantined {learner['quarantined']}",
            ),
            ("last error", learner["last_error"]),
            ("review rate", policy["review"]["rate"]),
            ("updated", f"{when(policy['updated_at'])} UTC"),
        ]
    )


def render_versions(versions: dict[str, Any]) -> str:
    live = versions["live_version"]
    rows = [
        [
            v["version"],
            v["revision"],
            v["learned_count"],
            v["high_water_mark"],
            when(v["created_at"]),
            "live" if v["version"] == live else None,
        ]
        for v in versions["versions"]
    ]
    headers = ["version", "revision", "learned", "high water", "created (UTC)", "live"]
    return f"policy {versions['policy']}\n" + table(headers, rows)


def _cost(policy: dict[str, Any]) -> str:
    budget = policy.get("budget")
    if budget:
        return f"budget ${budget['target_usd_per_request']:.4g} per request"
    return f"weight {policy['reward']['cost_weight']:g}"


def _exploration(exploration: dict[str, Any]) -> str:
    algorithm = exploration["algorithm"]
    detail = (
        f"epsilon {exploration['epsilon']:g}"
        if "epsilon" in algorithm
        else f"gamma scale {exploration['gamma_scale']:g}"
    )
    return f"{algorithm} ({detail}, min probability {exploration['min_probability']:g})"
