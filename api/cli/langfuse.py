"""``bandit-router langfuse``: set up a policy's review queue in Langfuse."""

from __future__ import annotations

import argparse
import os

from api.cli.options import Commands, add_command
from api.cli.output import print_json, table

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    langfuse = add_command(
        commands,
        "langfuse",
        help="set up review in Langfuse (reads LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, "
        "LANGFUSE_HOST like the server)",
        examples=["langfuse setup default"],
        uses=["output"],
    )
    actions = langfuse.add_subparsers(dest="action", required=True, metavar="ACTION")
    add_command(
        actions,
        "setup",
        help="create the score configs and the policy's annotation queue (reuses existing ones)",
        description="Create the score configs the router maps back (reviewer: 1-5 stars, judge: "
        "0..1) and the annotation queue bandit-router/POLICY, unless they exist by name. A "
        "server with Langfuse configured then adds the policy's review sample to the queue.",
        examples=["langfuse setup default", "langfuse setup default --json"],
        uses=["output"],
    ).add_argument("policy")
    langfuse.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: the Langfuse SDK and the settings (which load the database stack) are
    # slow to import, and only this command needs them.
    from api.integrations.langfuse_link import open_client
    from api.integrations.langfuse_queues import setup
    from api.settings import ENV_LANGFUSE_PUBLIC_KEY, ENV_LANGFUSE_SECRET_KEY, langfuse_settings

    try:
        settings = langfuse_settings(os.environ)
    except ValueError as error:
        raise SystemExit(f"bandit-router langfuse {args.action}: {error}") from error
    if settings is None:
        raise SystemExit(
            f"bandit-router langfuse {args.action}: Langfuse is not configured; set "
            f"{ENV_LANGFUSE_PUBLIC_KEY} and {ENV_LANGFUSE_SECRET_KEY} (and LANGFUSE_HOST)."
        )
    client = open_client(settings)
    try:
        result = setup(client, args.policy)
    except ValueError as error:
        raise SystemExit(f"bandit-router langfuse {args.action}: {error}") from error
    except Exception as error:  # the SDK's errors: say what failed, without a traceback
        raise SystemExit(
            f"bandit-router langfuse {args.action}: Langfuse at {settings.host} answered "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        client.shutdown()
    report = {
        "queue_id": result.queue_id,
        "created": [{"kind": k, "name": n, "id": i} for k, n, i in result.created],
        "reused": [{"kind": k, "name": n, "id": i} for k, n, i in result.reused],
    }
    if args.as_json:
        print_json(report)
    else:
        rows = [
            [kind, name, identifier, verb]
            for verb, made in (("created", result.created), ("reused", result.reused))
            for kind, name, identifier in made
        ]
        print(f"annotation queue {result.queue_id}\n" + table(["kind", "name", "id", ""], rows))
    return 0
