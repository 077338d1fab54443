"""``bandit-router export``: stream a policy's decisions with feedback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.cli.options import Commands, add_command
from api.cli.service import connect

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    export = add_command(
        commands,
        "export",
        help="stream a policy's decisions with feedback as VW DSJSON or JSON Lines",
        description="Stream decisions created at SINCE <= time < UNTIL from a running service. "
        "DSJSON (default) is Vowpal Wabbit's --dsjson input for --cb_explore_adf and leaves out "
        "decisions without a joined reward unless --unlabeled include; JSON Lines is the full "
        "log with feedback and reward.",
        examples=[
            "export default --since 2026-11-01T00:00:00Z --output default.dsjson",
            "export default --format jsonl | jq -c '{id, model, reward}'",
        ],
        uses=["remote"],
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
    export.add_argument("--output", type=Path, help="write here instead of standard output")
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with (
        connect(args) as client,
        client.export(
            args.policy,
            format=args.format,
            since=args.since,
            until=args.until,
            unlabeled=args.unlabeled,
        ) as stream,
    ):
        if args.output is None:
            # A reader that left (``| head``) raises BrokenPipeError: main ends quietly; a
            # service that stops mid-stream raises the client's UnreachableError.
            for chunk in stream.chunks():
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return 0
        # A failure mid-stream must not leave a truncated file under the final name.
        partial = args.output.with_name(args.output.name + ".partial")
        try:
            with partial.open("wb") as file:
                for chunk in stream.chunks():
                    file.write(chunk)
            partial.replace(args.output)
        except OSError as error:
            raise SystemExit(
                f"bandit-router export: cannot write {args.output}: {error}"
            ) from error
        finally:
            partial.unlink(missing_ok=True)
    return 0
