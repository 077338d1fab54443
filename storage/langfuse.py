"""What the Langfuse score poller reads and keeps: decisions by trace id, and its cursor."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = ["decision_for_trace", "read_cursor", "write_cursor"]


async def decision_for_trace(connection: AsyncConnection, *, trace_id: str) -> str | None:
    """The id of the decision that named ``trace_id``; None for a trace the router did not name."""
    return (
        await connection.execute(
            select(_sql.decisions.c.id).where(_sql.decisions.c.trace_id == trace_id).limit(1)
        )
    ).scalar_one_or_none()


async def read_cursor(connection: AsyncConnection, *, name: str) -> float | None:
    """``createdAt`` (epoch seconds) of the newest score the poller has seen, if any."""
    return (
        await connection.execute(
            select(_sql.langfuse_cursor.c.created_at).where(_sql.langfuse_cursor.c.name == name)
        )
    ).scalar_one_or_none()


async def write_cursor(
    connection: AsyncConnection, *, name: str, created_at: float, now: float
) -> None:
    """Move the cursor forward (never back: a stale poller cannot rewind another's)."""
    inserted = await _sql.insert_unless_exists(
        connection,
        _sql.langfuse_cursor,
        {"name": name, "created_at": created_at, "updated_at": now},
    )
    if not inserted:
        await connection.execute(
            update(_sql.langfuse_cursor)
            .where(
                _sql.langfuse_cursor.c.name == name,
                _sql.langfuse_cursor.c.created_at < created_at,
            )
            .values(created_at=created_at, updated_at=now)
        )
