"""The figures a metrics scrape reads from the database: small aggregate queries on indexes."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = ["experiments_by_status", "learner_lags", "newest_snapshot_times"]


async def learner_lags(
    connection: AsyncConnection, *, high_water_marks: Mapping[str, int]
) -> dict[str, int]:
    """Per policy, joined rewards after its learner's high-water mark that are not excluded:
    what the learner has still to learn (or set aside). One index range count per policy."""
    r = _sql.rewards
    lags: dict[str, int] = {}
    for policy, mark in high_water_marks.items():
        lags[policy] = (
            await connection.execute(
                select(func.count())
                .select_from(r)
                .where(r.c.policy == policy, r.c.seq > mark, r.c.excluded.is_(None))
            )
        ).scalar_one()
    return lags


async def newest_snapshot_times(connection: AsyncConnection) -> dict[str, float]:
    """Per policy with a stored snapshot, when its newest one was written (any process)."""
    s = _sql.snapshots
    rows = await connection.execute(
        select(s.c.policy, func.max(s.c.created_at)).group_by(s.c.policy)
    )
    return {policy: float(at) for policy, at in rows}


async def experiments_by_status(connection: AsyncConnection) -> dict[str, int]:
    """How many experiments are in each status (running, paused, completed, rolled_back)."""
    e = _sql.experiments
    rows = await connection.execute(select(e.c.status, func.count()).group_by(e.c.status))
    return {status: int(count) for status, count in rows}
