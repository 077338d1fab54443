"""What the Langfuse score poller and queue feeder read and keep: decisions by trace id, the
poller's cursor, and the decisions already in an annotation queue."""

from __future__ import annotations

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = [
    "decision_for_trace",
    "mark_queued",
    "read_cursor",
    "unqueued_reviews",
    "write_cursor",
]


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


async def unqueued_reviews(
    connection: AsyncConnection, *, policy: str, limit: int
) -> list[tuple[str, str]]:
    """``(decision id, trace id)`` of ``policy``'s decisions sampled for review and not yet
    in its Langfuse annotation queue, oldest first."""
    decisions = _sql.decisions
    queued = _sql.langfuse_queue_items
    rows = await connection.execute(
        select(decisions.c.id, decisions.c.trace_id)
        .where(
            decisions.c.policy == policy,
            decisions.c.review_probability.is_not(None),
            decisions.c.trace_id.is_not(None),
            ~exists(select(queued.c.decision_id).where(queued.c.decision_id == decisions.c.id)),
        )
        .order_by(decisions.c.created_at, decisions.c.id)
        .limit(limit)
    )
    return [(row.id, row.trace_id) for row in rows]


async def mark_queued(
    connection: AsyncConnection, *, decision_id: str, queue_id: str, item_id: str, now: float
) -> None:
    """Remember that ``decision_id`` is in the queue, so it is never added again."""
    await _sql.insert_unless_exists(
        connection,
        _sql.langfuse_queue_items,
        {"decision_id": decision_id, "queue_id": queue_id, "item_id": item_id, "created_at": now},
    )
