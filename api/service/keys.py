"""Operators' calls on API keys: create (the only time a secret is shown), list, revoke.

Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import builtins
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.keyring import KeyRing
from bandit.errors import ForbiddenError, InvalidInputError
from domain import ApiKey, Scope, hash_secret
from storage.audit import AuditEntry, list_audit
from storage.keys import add_key, count_keys, key_audit_json, list_keys, revoke_key
from storage.writer import GroupCommitter

__all__ = [
    "AuditEntry",
    "CreatedKey",
    "KeyService",
    "key_audit_json",
    "new_key_id",
    "new_secret",
    "write_key_file",
]

#: Secrets carry this prefix so they are recognisable in a config file or a leak scanner.
SECRET_PREFIX = "br_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    secret: str


def write_key_file(path: Path, secret: str) -> None:
    """Write ``secret`` to ``path``, readable by its owner only (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(secret + "\n")


class KeyService:
    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        keyring: KeyRing,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._keyring = keyring
        self._clock = clock

    async def create(
        self,
        *,
        name: str,
        scopes: frozenset[Scope],
        policies: frozenset[str] | None,
        expires_at: float | None,
        models: frozenset[str] | None = None,
        rate_per_second: float | None,
        actor: ApiKey,
    ) -> CreatedKey:
        """A new key; its secret is in the result and nowhere else."""
        _require_unlimited(actor, "create API keys")
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise InvalidInputError(f"expires_at {expires_at} is not in the future.")
        unknown = sorted((policies or frozenset()) - set(self._catalog.policies))
        if unknown:
            raise InvalidInputError(f"Policies {unknown} do not exist; create them first.")
        unknown = sorted((models or frozenset()) - set(self._catalog.models))
        if unknown:
            raise InvalidInputError(f"Models {unknown} do not exist; register them first.")
        try:
            key = ApiKey(
                id=new_key_id(),
                name=name,
                scopes=scopes,
                policies=policies,
                models=models,
                expires_at=expires_at,
                rate_per_second=rate_per_second,
                created_at=now,
            )
        except ValueError as error:
            raise InvalidInputError(str(error)) from error
        return await self._add(key, actor=actor.id)

    async def list(self, *, actor: ApiKey) -> list[ApiKey]:
        _require_unlimited(actor, "list API keys")
        async with self._engine.connect() as connection:
            return [key for key, _ in await list_keys(connection)]

    async def audit(
        self, *, actor: ApiKey, limit: int, before: int | None = None
    ) -> builtins.list[AuditEntry]:  # ``list`` is the method above
        """Admin changes, newest first; ``before``: the smallest ``seq`` of the previous page."""
        if not actor.unlimited:
            raise ForbiddenError(
                f"API key {actor.name!r} is limited to policies; only an admin key for every "
                "policy may read the audit log."
            )
        async with self._engine.connect() as connection:
            return await list_audit(connection, limit=limit, before_seq=before)

    async def revoke(self, key_id: str, *, actor: ApiKey) -> ApiKey:
        """Revoke at once (idempotent: revoking again changes nothing and logs nothing)."""
        _require_unlimited(actor, "revoke API keys")
        now = self._clock()

        async def store(connection: AsyncConnection) -> ApiKey:
            return await revoke_key(connection, key_id=key_id, now=now, actor=actor.id)

        revoked = await self._committer.run(store)
        self._keyring.replace(revoked)
        return revoked

    async def bootstrap_admin_key(self, path: Path) -> Path | None:
        """On a database without keys, create an admin key and write it to ``path``.

        Returns the path when a key was created, ``None`` when keys already exist.
        """
        async with self._engine.connect() as connection:
            if await count_keys(connection):
                return None
        now = self._clock()
        key = ApiKey(
            id=new_key_id(), name="bootstrap admin", scopes=frozenset({"admin"}), created_at=now
        )
        # The file first: a key nobody can read would lock the operator out.
        await self._add(key, actor="bootstrap", before_storing=lambda s: write_key_file(path, s))
        return path

    async def _add(
        self, key: ApiKey, *, actor: str, before_storing: Callable[[str], None] | None = None
    ) -> CreatedKey:
        """Store ``key`` with a new secret (audited); in force in this process at once."""
        secret = new_secret()
        digest = hash_secret(secret)
        if before_storing is not None:
            before_storing(secret)

        async def store(connection: AsyncConnection) -> None:
            await add_key(connection, key=key, secret_hash=digest, actor=actor)

        await self._committer.run(store)
        self._keyring.remember(key, digest)
        return CreatedKey(key, secret)


def _require_unlimited(actor: ApiKey, what: str) -> None:
    if not actor.unlimited:
        raise ForbiddenError(
            f"API key {actor.name!r} is limited to policies {sorted(actor.policies or ())}; "
            f"only an admin key for every policy may {what}."
        )
