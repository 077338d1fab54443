"""The ``bandit-router`` command: one parser, one module per command, one way to fail.

Every command's module adds its parser (with an example in its ``--help``) and the function
that runs it; this module only dispatches, and turns the ways a command can end early into
exit codes without a traceback: a service's refusal or silence (the client's ``RouterError``,
its ``detail`` sentence, exit 1), a reader that closed the pipe (``| head``, exit 141 as a
shell reports SIGPIPE) and Ctrl-C (exit 130).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from api.cli import (
    decisions,
    drift,
    evaluate,
    experiments,
    export,
    keys,
    langfuse,
    models,
    policies,
    replay,
    serve,
)
from api.cli.options import ENV_KEY, ENV_URL, resolve, shared_options
from api.client import RouterError

__all__ = ["build_parser", "main"]

#: Exit statuses a shell would report for a command ended by SIGPIPE and by SIGINT.
EXIT_BROKEN_PIPE = 128 + 13
EXIT_INTERRUPTED = 128 + 2

_EPILOG = f"""\
Options --url, --key, --json and --database-url go before or after the command alike.
Remote commands read ${ENV_URL} and ${ENV_KEY} when --url and --key are not given.

examples:
  bandit-router serve
  export {ENV_URL}=http://127.0.0.1:8000 {ENV_KEY}=...
  bandit-router drift default --bucket-seconds 86400
  bandit-router --json experiments list | jq '.[].status'
  bandit-router COMMAND --help"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bandit-router",
        description="A self-hosted LLM router that learns which model should answer each request.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=shared_options(),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (
        serve,
        replay,
        policies,
        models,
        decisions,
        experiments,
        evaluate,
        drift,
        export,
        keys,
        langfuse,
    ):
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = resolve(parser, parser.parse_args(argv), os.environ)
        status: int = args.run(args)
        # Flushed here, not at exit, so a closed pipe is caught below.
        sys.stdout.flush()
    except RouterError as error:
        action = getattr(args, "action", None)
        name = f"{args.command} {action}" if action else args.command
        print(f"bandit-router {name}: {error.detail}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return status


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so the interpreter's last flush at exit does not
    hit the closed pipe again (the recipe of the Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
