"""The audit log: every admin change with the key that made it and its before/after."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = ["AuditEntry", "list_audit", "record_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    key_id: str
    action: str
    target: str
    before: Any
    after: Any
    at: float


async def record_audit(
    connection: AsyncConnection,
    *,
    key_id: str,
    action: str,
    target: str,
    before: Any,
    after: Any,
    at: float,
) -> None:
    """Record one admin change, in the caller's transaction (so it commits with the change)."""
    await connection.execute(
        _sql.audit_log.insert().values(
            key_id=key_id, action=action, target=target, before=before, after=after, at=at
        )
    )


async def list_audit(
    connection: AsyncConnection, *, limit: int, before_seq: int | None = None
) -> list[AuditEntry]:
    """The newest entries first, ``limit`` at most, older than ``before_seq`` when given."""
    a = _sql.audit_log
    query = select(a).order_by(a.c.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(a.c.seq < before_seq)
    rows = await connection.execute(query)
    return [
        AuditEntry(
            seq=row.seq,
            key_id=row.key_id,
            action=row.action,
            target=row.target,
            before=row.before,
            after=row.after,
            at=row.at,
        )
        for row in rows
    ]
