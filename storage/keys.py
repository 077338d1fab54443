"""API keys: create, list, revoke, and read them back for the servers' key cache."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import NotFoundError
from domain import ApiKey, Scope
from storage import _sql
from storage.audit import record_audit

__all__ = [
    "StoredKey",
    "add_key",
    "count_keys",
    "key_audit_json",
    "keys_state",
    "list_keys",
    "revoke_key",
]

#: A key with the digest of its secret, as the servers' key cache holds it.
StoredKey = tuple[ApiKey, str]


def _key(row: Any) -> ApiKey:
    scopes: frozenset[Scope] = frozenset(row.scopes)
    return ApiKey(
        id=row.id,
        name=row.name,
        scopes=scopes,
        policies=None if row.policies is None else frozenset(row.policies),
        models=None if row.models is None else frozenset(row.models),
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        rate_per_second=row.rate_per_second,
        created_at=row.created_at,
    )


def key_audit_json(key: ApiKey) -> dict[str, object]:
    """A key as the audit log shows it (never its secret or digest)."""
    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "policies": None if key.policies is None else sorted(key.policies),
        "models": None if key.models is None else sorted(key.models),
        "rate_per_second": key.rate_per_second,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


async def add_key(
    connection: AsyncConnection, *, key: ApiKey, secret_hash: str, actor: str
) -> None:
    """Store a new key and its audit entry (``actor``: the key id that made it)."""
    await connection.execute(
        _sql.api_keys.insert().values(
            id=key.id,
            name=key.name,
            secret_hash=secret_hash,
            scopes=sorted(key.scopes),
            policies=None if key.policies is None else sorted(key.policies),
            models=None if key.models is None else sorted(key.models),
            rate_per_second=key.rate_per_second,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            created_at=key.created_at,
            updated_at=key.created_at,
        )
    )
    await record_audit(
        connection,
        key_id=actor,
        action="key.create",
        target=key.id,
        before=None,
        after=key_audit_json(key),
        at=key.created_at,
    )


async def list_keys(connection: AsyncConnection) -> list[StoredKey]:
    """Every key, revoked ones included, oldest first."""
    k = _sql.api_keys
    rows = await connection.execute(select(k).order_by(k.c.created_at, k.c.id))
    return [(_key(row), row.secret_hash) for row in rows]


async def count_keys(connection: AsyncConnection) -> int:
    return int(
        (await connection.execute(select(func.count()).select_from(_sql.api_keys))).scalar_one()
    )


async def keys_state(connection: AsyncConnection) -> tuple[int, float]:
    """``(count, newest change)``: what a key cache compares to know it is stale."""
    k = _sql.api_keys
    row = (await connection.execute(select(func.count(), func.max(k.c.updated_at)))).one()
    return int(row[0]), float(row[1] or 0.0)


async def revoke_key(connection: AsyncConnection, *, key_id: str, now: float, actor: str) -> ApiKey:
    """Revoke ``key_id`` at ``now`` and audit it; revoking again changes and logs nothing."""
    k = _sql.api_keys
    row = (await connection.execute(select(k).where(k.c.id == key_id))).first()
    if row is None:
        raise NotFoundError(f"API key {key_id!r} does not exist.")
    before = _key(row)
    if before.revoked_at is not None:
        return before
    await connection.execute(
        update(k).where(k.c.id == key_id).values(revoked_at=now, updated_at=now)
    )
    after = dataclasses.replace(before, revoked_at=now)
    await record_audit(
        connection,
        key_id=actor,
        action="key.revoke",
        target=key_id,
        before=key_audit_json(before),
        after=key_audit_json(after),
        at=now,
    )
    return after
