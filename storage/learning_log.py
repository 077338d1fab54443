"""What the learner reads and writes: joined interactions in join order, and snapshots."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.types import Interaction
from storage import _sql
from storage.codec import arms_from_json, context_from_json

__all__ = [
    "LoggedInteraction",
    "Snapshot",
    "interactions_after",
    "latest_snapshot",
    "recent_snapshots",
    "save_snapshot",
]

#: Snapshots kept per policy; older ones are pruned (the log can always rebuild them).
SNAPSHOTS_KEPT = 10


@dataclass(frozen=True, slots=True)
class LoggedInteraction:
    seq: int
    interaction: Interaction


@dataclass(frozen=True, slots=True)
class Snapshot:
    policy: str
    revision: int
    learned_count: int
    high_water_mark: int
    data: bytes
    created_at: float


async def interactions_after(
    connection: AsyncConnection, *, policy: str, after_seq: int, limit: int
) -> list[LoggedInteraction]:
    """Joined interactions of ``policy`` with ``seq > after_seq``, in join order."""
    d, r = _sql.decisions, _sql.rewards
    rows = await connection.execute(
        select(r.c.seq, r.c.reward, d.c.context, d.c.arms, d.c.chosen_index, d.c.propensity)
        .join(d, d.c.id == r.c.decision_id)
        .where(r.c.policy == policy, r.c.seq > after_seq)
        .order_by(r.c.seq)
        .limit(limit)
    )
    return [
        LoggedInteraction(
            seq=row.seq,
            interaction=Interaction(
                context=context_from_json(row.context),
                arms=arms_from_json(row.arms),
                chosen=row.chosen_index,
                probability=row.propensity,
                reward=row.reward,
            ),
        )
        for row in rows
    ]


async def save_snapshot(connection: AsyncConnection, *, snapshot: Snapshot) -> None:
    s = _sql.snapshots
    await connection.execute(
        s.insert().values(
            policy=snapshot.policy,
            revision=snapshot.revision,
            learned_count=snapshot.learned_count,
            high_water_mark=snapshot.high_water_mark,
            data=snapshot.data,
            created_at=snapshot.created_at,
        )
    )
    newest = (
        select(s.c.id)
        .where(s.c.policy == snapshot.policy)
        .order_by(s.c.id.desc())
        .limit(SNAPSHOTS_KEPT)
    )
    await connection.execute(delete(s).where(s.c.policy == snapshot.policy, s.c.id.not_in(newest)))


async def latest_snapshot(
    connection: AsyncConnection, *, policy: str, revision: int
) -> Snapshot | None:
    s = _sql.snapshots
    row = (
        await connection.execute(
            select(s)
            .where(s.c.policy == policy, s.c.revision == revision)
            .order_by(s.c.high_water_mark.desc(), s.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return Snapshot(
        policy=row.policy,
        revision=row.revision,
        learned_count=row.learned_count,
        high_water_mark=row.high_water_mark,
        data=row.data,
        created_at=row.created_at,
    )


async def recent_snapshots(
    connection: AsyncConnection, *, policy: str, revision: int, limit: int
) -> list[tuple[int, bytes]]:
    """``(learned_count, data)`` of the newest ``limit`` snapshots of a revision, oldest first."""
    s = _sql.snapshots
    rows = await connection.execute(
        select(s.c.learned_count, s.c.data)
        .where(s.c.policy == policy, s.c.revision == revision)
        .order_by(s.c.high_water_mark.desc(), s.c.id.desc())
        .limit(limit)
    )
    return [(row.learned_count, bytes(row.data)) for row in rows][::-1]
