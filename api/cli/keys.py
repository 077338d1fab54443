"""``bandit-router keys create|list|revoke``: manage API keys on the database directly, or
on a running service (``/v1/keys``, with an admin key) when ``--url`` or ``--key`` is given.

The database is the default because keys are how one reaches a service at all: the first
admin key is made here. Running servers pick a change made on the database up within a second
(they refresh their key cache). ``$BANDIT_ROUTER_URL`` alone does not switch the command to
the service, so a shell set up for the remote commands still manages the database it names.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from api.cli.options import Commands, Uses, add_command
from api.cli.output import key_values, print_json, table, when
from api.cli.service import connect
from domain import SCOPES, Scope

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["add_parser", "run"]

#: The audit log's key id for changes made with this command.
CLI_ACTOR = "cli"


def add_parser(commands: Commands) -> None:
    uses: list[Uses] = ["database", "remote", "output"]
    keys = add_command(
        commands,
        "keys",
        help="create, list or revoke API keys (on the database, or a service with --url/--key)",
        description="Create, list or revoke API keys directly on the database (no server "
        "needed; running servers pick the change up within a second), or, when --url or --key "
        "is given on the command line, on that running service through /v1/keys with an admin "
        "key ($BANDIT_ROUTER_URL alone does not switch to the service).",
        examples=[
            "keys create ci-reader --scope read --policy default",
            "keys list --database-url postgresql://router@db/router",
            "keys list --url https://router.example.com --key $ADMIN_KEY",
        ],
        uses=uses,
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_create(actions, uses)
    add_command(
        actions,
        "list",
        help="list keys (never their secrets)",
        examples=["keys list", "keys list --json"],
        uses=uses,
    )
    add_command(
        actions,
        "revoke",
        help="revoke a key at once",
        examples=["keys revoke KEY_ID"],
        uses=uses,
    ).add_argument("id")
    keys.set_defaults(run=run)


def _add_create(actions: Commands, uses: list[Uses]) -> None:
    create = add_command(
        actions,
        "create",
        help="create a key and print its secret (shown once)",
        examples=[
            "keys create ci-reader --scope read --policy default",
            "keys create app --scope route --scope feedback --rate 50 --json",
        ],
        uses=uses,
    )
    create.add_argument("name")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        choices=SCOPES,
        required=True,
        help="repeat for several scopes; admin implies every other",
    )
    create.add_argument(
        "--policy",
        dest="policies",
        action="append",
        help="limit the key to this policy (repeat for several; default: every policy)",
    )
    create.add_argument(
        "--model",
        dest="models",
        action="append",
        help="limit the key's requests to this model (repeat for several; default: every model)",
    )
    create.add_argument("--expires-at", type=float, help="epoch seconds")
    create.add_argument("--rate", type=float, help="requests per second (default: unlimited)")


def run(args: argparse.Namespace) -> int:
    remote = bool({"url", "key"} & args.given)
    if remote and "database_url" in args.given:
        raise SystemExit(
            f"bandit-router keys {args.action}: give --url/--key (a running service) or "
            "--database-url (the database), not both."
        )
    answer = _on_service(args) if remote else _on_database(args)
    if args.as_json:
        print_json(answer)
    elif args.action == "list":
        print(render_list(answer))
    else:
        print(render_one(answer))
    return 0


def render_list(keys: list[dict[str, Any]]) -> str:
    if not keys:
        return "no keys"
    rows = [
        [
            k["id"],
            k["name"],
            k["scopes"],
            k["policies"] or "all",
            k["models"] or "all",
            k["rate_per_second"],
            when(k["expires_at"]),
            when(k["revoked_at"]),
        ]
        for k in keys
    ]
    headers = ["id", "name", "scopes", "policies", "models", "rate/s", "expires", "revoked"]
    return table(headers, rows)


def render_one(key: dict[str, Any]) -> str:
    text = key_values(
        [
            ("id", key["id"]),
            ("name", key["name"]),
            ("scopes", ", ".join(key["scopes"])),
            ("policies", ", ".join(key["policies"] or ["all"])),
            ("models", ", ".join(key["models"] or ["all"])),
            ("rate/s", key["rate_per_second"]),
            ("expires", when(key["expires_at"])),
            ("revoked", when(key["revoked_at"])),
            ("key", key.get("key")),
        ]
    )
    if "key" in key:
        text += "\n\nThe key is shown only this once: store it now."
    return text


def _on_service(args: argparse.Namespace) -> Any:
    """The service's own JSON answer; its refusals are the client's ``RouterError``."""
    with connect(args) as client:
        if args.action == "list":
            return client.as_json(client.keys)
        if args.action == "revoke":
            return client.as_json(client.revoke_key, args.id)
        return client.as_json(
            client.create_key,
            args.name,
            cast(list[Scope], args.scopes),
            policies=args.policies,
            models=args.models,
            expires_at=args.expires_at,
            rate_per_second=args.rate,
        )


def _on_database(args: argparse.Namespace) -> Any:
    from api.settings import Settings
    from bandit.errors import RouterError

    settings = Settings.from_environment(database_url=args.database_url)
    try:
        return asyncio.run(_run(args, settings.database_url))
    except (RouterError, ValueError) as error:
        raise SystemExit(f"bandit-router keys {args.action}: {error}") from error


async def _run(args: argparse.Namespace, database_url: str) -> Any:
    # Imported here: the database stack is slow to import and only this command needs it.
    from storage.engine import create_engine
    from storage.keys import key_audit_json, list_keys, revoke_key
    from storage.migrate import upgrade

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        now = time.time()
        if args.action == "list":
            async with engine.connect() as connection:
                return [key_audit_json(key) for key, _ in await list_keys(connection)]
        async with engine.begin() as connection:
            if args.action == "revoke":
                revoked = await revoke_key(connection, key_id=args.id, now=now, actor=CLI_ACTOR)
                return key_audit_json(revoked)
            return await _create(connection, args, now)
    finally:
        await engine.dispose()


async def _create(connection: AsyncConnection, args: argparse.Namespace, now: float) -> object:
    from api.service.keys import new_key_id, new_secret
    from domain import ApiKey, hash_secret
    from storage.catalog import list_models, list_policies
    from storage.keys import add_key, key_audit_json

    policies = None if not args.policies else frozenset(args.policies)
    known = {p.name for p in await list_policies(connection)}
    unknown = sorted((policies or frozenset()) - known)
    if unknown:
        raise ValueError(f"Policies {unknown} do not exist; create them first.")
    models = None if not args.models else frozenset(args.models)
    known_models = {m.id for m in await list_models(connection)}
    unknown = sorted((models or frozenset()) - known_models)
    if unknown:
        raise ValueError(f"Models {unknown} do not exist; register them first.")
    if args.expires_at is not None and args.expires_at <= now:
        raise ValueError(f"--expires-at {args.expires_at} is not in the future.")
    key = ApiKey(
        id=new_key_id(),
        name=args.name,
        scopes=frozenset(cast(list[Scope], args.scopes)),
        policies=policies,
        models=models,
        expires_at=args.expires_at,
        rate_per_second=args.rate,
        created_at=now,
    )
    secret = new_secret()
    await add_key(connection, key=key, secret_hash=hash_secret(secret), actor=CLI_ACTOR)
    return {**key_audit_json(key), "key": secret}
