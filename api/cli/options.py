"""Options every command shares, and how a command is declared.

A shared option (``--url``, ``--key``, ``--json``, ``--database-url``) is accepted before the
subcommand and after it alike: it sits on the top parser and on every parser of a command that
uses it, with ``default=SUPPRESS`` so a parser that did not see it leaves the value another
parser read alone. Defaults (and the environment) are applied once, after parsing, by
:func:`resolve`, which also records in ``args.given`` the ones the command line gave (``keys``
goes to a running service only when told so on its command line).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias

__all__ = [
    "DEFAULT_URL",
    "ENV_KEY",
    "ENV_URL",
    "Commands",
    "Uses",
    "add_command",
    "resolve",
    "shared_options",
]

ENV_URL = "BANDIT_ROUTER_URL"
ENV_KEY = "BANDIT_ROUTER_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"

#: The groups of shared options a command may use.
Uses = Literal["remote", "output", "database"]
if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # generic only in typeshed
    Commands = argparse._SubParsersAction

#: Which attribute each group sets, and the option that sets it (for error messages).
_OPTIONS: dict[Uses, dict[str, str]] = {
    "remote": {"url": "--url", "key": "--key"},
    "output": {"as_json": "--json"},
    "database": {"database_url": "--database-url"},
}
_WIDTH = 88


def _remote() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("service")
    group.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the running service (default ${ENV_URL}, else {DEFAULT_URL})",
    )
    group.add_argument(
        "--key", default=argparse.SUPPRESS, help=f"the API key to send (default ${ENV_KEY})"
    )
    return parser


def _output() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--json",
        dest="as_json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print JSON (for remote commands, what the service answered) instead of tables",
    )
    return parser


def _database() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="SQLite or PostgreSQL URL (default $BANDIT_ROUTER_DATABASE_URL, "
        "else sqlite:///./var/bandit-router.db)",
    )
    return parser


_PARENTS = {"remote": _remote(), "output": _output(), "database": _database()}


def shared_options() -> list[argparse.ArgumentParser]:
    """Every shared option, for the top parser."""
    return list(_PARENTS.values())


def add_command(
    commands: Commands,
    name: str,
    *,
    help: str,
    examples: Sequence[str],
    description: str | None = None,
    uses: Sequence[Uses] = (),
) -> argparse.ArgumentParser:
    """A (sub)command whose ``--help`` ends with ``examples`` (command lines, without the
    ``bandit-router`` prefix), taking the shared options of ``uses``."""
    lines = "\n".join(f"  bandit-router {example}" for example in examples)
    parser = commands.add_parser(
        name,
        help=help,
        description=textwrap.fill(description or help[:1].upper() + help[1:] + ".", _WIDTH),
        epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_PARENTS[group] for group in uses],
    )
    parser.set_defaults(uses=frozenset(uses))
    return parser


def resolve(
    parser: argparse.ArgumentParser, args: argparse.Namespace, environ: Mapping[str, str]
) -> argparse.Namespace:
    """Fill in the shared options ``args`` did not give, from ``environ`` or their defaults;
    a shared option given to a command that does not use it is an error."""
    uses: frozenset[Uses] = getattr(args, "uses", frozenset())
    #: The shared options given on the command line (not from the environment or defaults).
    args.given = frozenset(
        attribute
        for options in _OPTIONS.values()
        for attribute in options
        if hasattr(args, attribute)
    )
    for group, options in _OPTIONS.items():
        if group in uses:
            continue
        for attribute, option in options.items():
            if hasattr(args, attribute):
                parser.error(f"{option} does not apply to {_command(args)}")
    if "remote" in uses:
        args.url = getattr(args, "url", None) or environ.get(ENV_URL) or DEFAULT_URL
        args.key = getattr(args, "key", None) or environ.get(ENV_KEY) or None
    if "output" in uses:
        args.as_json = getattr(args, "as_json", False)
    if "database" in uses:
        args.database_url = getattr(args, "database_url", None)
    return args


def _command(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else str(args.command)
