"""Sessions: a conversation's key (a keyed hash, never its text) -> its first decision and the
model that answers it now."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import Session
from storage import _sql

__all__ = ["delete_sessions_before", "find_session", "keep_session", "move_session"]


async def find_session(connection: AsyncConnection, *, key: str, since: float) -> Session | None:
    """The session under ``key`` used at ``since`` or later; None when there is none."""
    s = _sql.sessions
    row = (
        await connection.execute(select(s).where(s.c.key == key, s.c.updated_at >= since))
    ).first()
    if row is None:
        return None
    return Session(row.key, row.policy, row.decision_id, row.model, row.updated_at)


def keep_session(connection: Connection, *, session: Session, now: float) -> None:
    """Store ``session`` (a new key, or an existing key's first decision and model again)."""
    s = _sql.sessions
    values = {
        "policy": session.policy,
        "decision_id": session.decision_id,
        "model": session.model,
        "updated_at": now,
    }
    changed = connection.execute(update(s).where(s.c.key == session.key).values(**values))
    if changed.rowcount == 0:
        row = {"key": session.key, **values, "created_at": now}
        if not _sql.insert_rows_unless_exist(connection, s, [row]):
            # Another process stored it meanwhile: this one is as recent.
            connection.execute(update(s).where(s.c.key == session.key).values(**values))


def move_session(connection: Connection, *, key: str, model: str, now: float) -> None:
    """The session's model failed and ``model`` took over: later turns go to it."""
    s = _sql.sessions
    connection.execute(update(s).where(s.c.key == key).values(model=model, updated_at=now))


def delete_sessions_before(connection: Connection, *, before: float) -> int:
    """Forget sessions unused since ``before``; how many were deleted."""
    s = _sql.sessions
    return int(connection.execute(delete(s).where(s.c.updated_at < before)).rowcount or 0)
