"""``bandit-router keys create|list|revoke``: manage API keys on the database directly.

Running servers pick the change up within a second (they refresh their key cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import cast

from sqlalchemy.ext.asyncio import AsyncConnection

from api.service.keys import new_key_id, new_secret
from api.settings import ENV_DATABASE_URL, Settings
from bandit.access import SCOPES, ApiKey, Scope, hash_secret
from bandit.errors import RouterError
from storage.catalog import list_models, list_policies
from storage.engine import create_engine
from storage.keys import add_key, key_audit_json, list_keys, revoke_key
from storage.migrate import upgrade

__all__ = ["add_keys_parser", "run_keys"]

#: The audit log's key id for changes made with this command.
CLI_ACTOR = "cli"


def add_keys_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke API keys (on the database)")
    keys.add_argument(
        "--database-url", help=f"SQLite or PostgreSQL URL (default ${ENV_DATABASE_URL}, else ./var)"
    )
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key and print its secret (shown once)")
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
    actions.add_parser("list", help="list keys (never their secrets)")
    actions.add_parser("revoke", help="revoke a key at once").add_argument("id")


def run_keys(args: argparse.Namespace) -> int:
    settings = Settings.from_environment(database_url=args.database_url)
    try:
        print(json.dumps(asyncio.run(_run(args, settings.database_url)), indent=2))
    except (RouterError, ValueError) as error:
        raise SystemExit(f"bandit-router keys {args.action}: {error}") from error
    return 0


async def _run(args: argparse.Namespace, database_url: str) -> object:
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
