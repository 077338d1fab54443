"""``bandit-router models``: the model catalog of a running service."""

from __future__ import annotations

import argparse
from typing import Any

from api.cli.options import Commands, Uses, add_command
from api.cli.output import key_values, print_json, table
from api.cli.service import connect

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    uses: list[Uses] = ["remote", "output"]
    models = add_command(
        commands,
        "models",
        help="list the model catalog or show one model",
        examples=["models list", "models show gpt-4o-mini --json"],
        uses=uses,
    )
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_command(
        actions,
        "list",
        help="every model: provider, prices, status, features",
        examples=["models list"],
        uses=uses,
    )
    add_command(
        actions,
        "show",
        help="one model, with how the proxy calls it",
        examples=["models show gpt-4o-mini"],
        uses=uses,
    ).add_argument("id")
    models.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with connect(args) as client:
        if args.action == "list":
            answer = client.as_json(client.models)
        else:
            answer = client.as_json(client.model, args.id)
    if args.as_json:
        print_json(answer)
    elif args.action == "list":
        print(render_list(answer))
    else:
        print(key_values(sorted(answer.items())))
    return 0


def render_list(models: list[dict[str, Any]]) -> str:
    if not models:
        return "no models"
    rows = [
        [
            m["id"],
            m["provider"],
            f"{m['input_usd_per_mtok']:g}",
            f"{m['output_usd_per_mtok']:g}",
            m["status"],
            " ".join(f"{k}={v}" for k, v in sorted(m["features"].items())) or None,
        ]
        for m in models
    ]
    headers = ["model", "provider", "in $/Mtok", "out $/Mtok", "status", "features"]
    return table(headers, rows)
