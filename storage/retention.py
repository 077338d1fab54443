"""Retention: delete a policy's old decisions, with their feedback and rewards, in chunks.

What may go, all in one transaction per chunk (so the reads and the delete agree):

- decisions of the policy created before ``before``;
- whose reward, if any, is included in the newest snapshot of the policy's current revision
  (``seq <= high_water_mark``): that snapshot plus the retained log still rebuilds the live
  learner exactly. With no snapshot, no learned decision goes;
- that belong to no active (running or paused) experiment: the stage rule's statistics are
  cumulative over every stage, so deleting any of them would change its evidence mid-way;
- whose reward window is not waiting on the clock (an open decision with a closing time is
  joined first, and goes in a later round).
"""

from __future__ import annotations

from sqlalchemy import and_, delete, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import ACTIVE, OPEN
from storage import _sql

__all__ = ["delete_expired"]


async def delete_expired(
    connection: AsyncConnection, *, policy: str, revision: int, before: float, limit: int
) -> int:
    """Delete up to ``limit`` expired decisions of ``policy`` (see the module docstring).

    Returns how many decisions were deleted; fewer than ``limit`` means none are left.
    """
    d, r, f, s, e = (
        _sql.decisions,
        _sql.rewards,
        _sql.feedback,
        _sql.snapshots,
        _sql.experiments,
    )
    high_water_mark = (
        await connection.execute(
            select(func.coalesce(func.max(s.c.high_water_mark), 0)).where(
                s.c.policy == policy, s.c.revision == revision
            )
        )
    ).scalar_one()
    active = select(e.c.id).where(e.c.policy == policy, e.c.status.in_(ACTIVE))
    rows = await connection.execute(
        select(d.c.id)
        .outerjoin(r, r.c.decision_id == d.c.id)
        .where(
            d.c.policy == policy,
            d.c.created_at < before,
            or_(r.c.seq.is_(None), r.c.seq <= high_water_mark),
            or_(d.c.experiment_id.is_(None), d.c.experiment_id.not_in(active)),
            not_(and_(d.c.join_status == OPEN, d.c.window_closes_at.is_not(None))),
        )
        .order_by(d.c.created_at, d.c.id)
        .limit(limit)
    )
    expired = [row.id for row in rows]
    if not expired:
        return 0
    # Children first: feedback and rewards reference their decision.
    await connection.execute(delete(f).where(f.c.decision_id.in_(expired)))
    await connection.execute(delete(r).where(r.c.decision_id.in_(expired)))
    await connection.execute(delete(d).where(d.c.id.in_(expired)))
    return len(expired)
