"""The learner role: exactly one server process holds it at a time, through the database.

On PostgreSQL the role is a session-level advisory lock held on a connection of its own: the
server that holds it joins rewards, writes snapshots and runs experiment checks. When that
server dies, however it dies, PostgreSQL ends its session and frees the lock, and the next
server to ask takes the role. On SQLite one server serves a file (``storage.server_lock``), so
it always holds the role.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["LEARNER_LOCK_KEY", "AdvisoryLease", "LearnerLease", "SoleLease", "lease_for"]

_log = logging.getLogger(__name__)

#: The advisory lock's key: "bandit" in ASCII, so it is recognisable in ``pg_locks``.
LEARNER_LOCK_KEY = 0x62616E646974
#: Server-side TCP keepalives of the learner's session: idle seconds, interval, probes.
_KEEPALIVES = (
    ("tcp_keepalives_idle", 5),
    ("tcp_keepalives_interval", 2),
    ("tcp_keepalives_count", 3),
)
#: How long a check of the held lock's connection may take before the role counts as lost.
_CHECK_SECONDS = 2.0


class LearnerLease(Protocol):
    async def hold(self) -> bool:
        """Take the role if it is free, or check it is still held; True while this process
        holds it."""
        ...

    async def release(self) -> None: ...


class SoleLease:
    """The only server of its database (SQLite) always holds the role."""

    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLease:
    """``pg_try_advisory_lock`` on a connection kept open while the role is held."""

    def __init__(self, engine: AsyncEngine, key: int = LEARNER_LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._connection: AsyncConnection | None = None

    async def hold(self) -> bool:
        if self._connection is not None:
            if await self._alive(self._connection):
                return True
            _log.warning("the learner role's database session was lost; giving the role up")
            await self._drop()
        connection = await self._engine.connect()
        try:
            # A learner whose host dies without closing its connection (power loss, a network
            # split) would keep the lock until PostgreSQL noticed, two hours by default: have
            # the server probe this session every few seconds (about 11 s to notice).
            for setting, value in _KEEPALIVES:
                await connection.execute(text(f"SET {setting} = {value}"))
            taken = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                )
            ).scalar_one()
            # The lock belongs to the session, not the transaction: end the transaction so the
            # session does not sit idle in one.
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def release(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.commit()
        finally:
            await self._drop()

    async def _alive(self, connection: AsyncConnection) -> bool:
        try:
            async with asyncio.timeout(_CHECK_SECONDS):
                await connection.execute(text("SELECT 1"))
                await connection.commit()
        except Exception:  # any failure means the session, and with it the lock, may be gone
            return False
        return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # a broken connection may fail to close; it is gone either way
                _log.debug("closing the lost learner-role connection failed", exc_info=True)


def lease_for(engine: AsyncEngine) -> LearnerLease:
    if engine.dialect.name == "postgresql":
        return AdvisoryLease(engine)
    return SoleLease()
