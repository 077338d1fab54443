"""What the learner reads and writes: joined interactions in join order, snapshots, and the
quarantine of interactions that could not be learned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.types import Interaction
from storage import _sql
from storage.codec import arms_from_json, context_from_json

__all__ = [
    "SNAPSHOTS_KEPT",
    "LearnerStatus",
    "LoggedInteraction",
    "Quarantined",
    "Snapshot",
    "SnapshotInfo",
    "count_learnable",
    "discard_snapshots",
    "exclude_interactions",
    "find_snapshot",
    "interactions_after",
    "latest_snapshot",
    "learner_status",
    "list_snapshots",
    "observed_cost",
    "quarantine",
    "recent_snapshots",
    "save_snapshot",
    "set_version_base",
    "version_base",
]

#: Snapshots kept per policy, the versions a rollback can return to; older ones are pruned
#: (the log can always rebuild them).
SNAPSHOTS_KEPT = 20


@dataclass(frozen=True, slots=True)
class LoggedInteraction:
    """One joined reward in join order; ``interaction`` is ``None`` when its row cannot make
    one (e.g. a non-finite reward stored before rewards were clipped), and ``problem`` says
    why."""

    seq: int
    interaction: Interaction | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A joined reward set aside: ``reason`` is a sentence naming what was wrong."""

    policy: str
    reward_seq: int
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class LearnerStatus:
    """``lag``: joined rewards after the learner's high-water mark (not yet learned or set
    aside); ``quarantined``: rewards set aside, ``last_reason`` the newest one's reason."""

    lag: int
    quarantined: int
    last_reason: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    policy: str
    revision: int
    learned_count: int
    high_water_mark: int
    data: bytes
    created_at: float
    #: The ``policy_version`` of this learned state.
    version: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A stored snapshot without its bytes, as ``GET .../versions`` lists it."""

    version: int
    revision: int
    learned_count: int
    high_water_mark: int
    created_at: float


async def interactions_after(
    connection: AsyncConnection, *, policy: str, after_seq: int, limit: int
) -> list[LoggedInteraction]:
    """Joined interactions of ``policy`` with ``seq > after_seq``, in join order, without the
    quarantined or excluded ones (rolled back, or left without a reward by a voided feedback):
    the live learner and every rebuild skip the same rows. A row that cannot be read as an
    interaction comes back with its problem instead of failing the whole batch."""
    d, r, q = _sql.decisions, _sql.rewards, _sql.quarantine
    rows = await connection.execute(
        select(
            r.c.seq,
            r.c.reward,
            r.c.cost_usd,
            d.c.context,
            d.c.arms,
            d.c.chosen_index,
            d.c.propensity,
        )
        .join(d, d.c.id == r.c.decision_id)
        .outerjoin(q, q.c.reward_seq == r.c.seq)
        .where(
            r.c.policy == policy,
            r.c.seq > after_seq,
            q.c.reward_seq.is_(None),
            r.c.excluded.is_(None),
        )
        .order_by(r.c.seq)
        .limit(limit)
    )
    logged = []
    for row in rows:
        try:
            interaction = Interaction(
                context=context_from_json(row.context),
                arms=arms_from_json(row.arms),
                chosen=row.chosen_index,
                propensity=row.propensity,
                reward=row.reward,
                # What the chosen call cost, as joined: a budgeted policy learns spend from it.
                cost_usd=row.cost_usd,
            )
        except (ValueError, TypeError, KeyError, IndexError) as error:
            problem = f"Reward {row.seq} cannot be learned: {error}"
            logged.append(LoggedInteraction(seq=row.seq, interaction=None, problem=problem))
        else:
            logged.append(LoggedInteraction(seq=row.seq, interaction=interaction))
    return logged


async def observed_cost(connection: AsyncConnection, *, model: str) -> tuple[int, float | None]:
    """How many joined rewards of calls to ``model`` (any policy) carry a cost, and their mean."""
    d, r = _sql.decisions, _sql.rewards
    row = (
        await connection.execute(
            select(func.count(r.c.cost_usd), func.avg(r.c.cost_usd))
            .join(d, d.c.id == r.c.decision_id)
            .where(d.c.chosen_model == model, r.c.cost_usd.is_not(None))
        )
    ).one()
    count = int(row[0])
    return count, None if count == 0 else float(row[1])


async def quarantine(connection: AsyncConnection, *, entry: Quarantined) -> None:
    """Set a joined reward aside for good (idempotent: a second call keeps the first reason)."""
    await _sql.insert_unless_exists(
        connection,
        _sql.quarantine,
        {
            "reward_seq": entry.reward_seq,
            "policy": entry.policy,
            "reason": entry.reason,
            "at": entry.at,
        },
    )


async def learner_status(
    connection: AsyncConnection, *, policy: str, high_water_mark: int
) -> LearnerStatus:
    r, q = _sql.rewards, _sql.quarantine
    lag = (
        await connection.execute(
            select(func.count())
            .select_from(r)
            .where(r.c.policy == policy, r.c.seq > high_water_mark, r.c.excluded.is_(None))
        )
    ).scalar_one()
    quarantined = (
        await connection.execute(select(func.count()).select_from(q).where(q.c.policy == policy))
    ).scalar_one()
    last = (
        await connection.execute(
            select(q.c.reason).where(q.c.policy == policy).order_by(q.c.reward_seq.desc()).limit(1)
        )
    ).scalar_one_or_none()
    return LearnerStatus(lag=lag, quarantined=quarantined, last_reason=last)


async def save_snapshot(connection: AsyncConnection, *, snapshot: Snapshot) -> None:
    s = _sql.snapshots
    await connection.execute(
        s.insert().values(
            policy=snapshot.policy,
            revision=snapshot.revision,
            version=snapshot.version,
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
    return None if row is None else _snapshot(row)


async def find_snapshot(
    connection: AsyncConnection, *, policy: str, version: int
) -> Snapshot | None:
    s = _sql.snapshots
    row = (
        await connection.execute(
            select(s)
            .where(s.c.policy == policy, s.c.version == version)
            .order_by(s.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _snapshot(row)


async def list_snapshots(connection: AsyncConnection, *, policy: str) -> list[SnapshotInfo]:
    """Every stored snapshot of ``policy``, newest first."""
    s = _sql.snapshots
    rows = await connection.execute(
        select(s.c.version, s.c.revision, s.c.learned_count, s.c.high_water_mark, s.c.created_at)
        .where(s.c.policy == policy)
        .order_by(s.c.id.desc())
    )
    return [
        SnapshotInfo(
            version=row.version,
            revision=row.revision,
            learned_count=row.learned_count,
            high_water_mark=row.high_water_mark,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def exclude_interactions(
    connection: AsyncConnection,
    *,
    policy: str,
    after_seq: int,
    through_seq: int,
    reason: str,
    now: float,
) -> int:
    """Exclude ``policy``'s rewards with ``after_seq < seq <= through_seq`` for good.

    Snapshots that learned any of them are deleted with them, so no later load or rollback can
    bring an excluded interaction back. Returns how many rewards were newly excluded.
    """
    r, s = _sql.rewards, _sql.snapshots
    result = await connection.execute(
        update(r)
        .where(
            r.c.policy == policy,
            r.c.seq > after_seq,
            r.c.seq <= through_seq,
            r.c.excluded.is_(None),
        )
        .values(excluded=reason, excluded_at=now)
    )
    await connection.execute(delete(s).where(s.c.policy == policy, s.c.high_water_mark > after_seq))
    return int(result.rowcount)


async def discard_snapshots(connection: AsyncConnection, *, policy: str, from_seq: int) -> None:
    """Delete ``policy``'s snapshots that learned the reward ``from_seq`` (its value changed)."""
    s = _sql.snapshots
    await connection.execute(delete(s).where(s.c.policy == policy, s.c.high_water_mark >= from_seq))


async def count_learnable(
    connection: AsyncConnection, *, policy: str, through_seq: int | None = None
) -> int:
    """How many rewards a rebuild learns (up to ``through_seq``): the learned count it ends with.
    Excluded and quarantined rewards are not learned, so they do not count."""
    r, q = _sql.rewards, _sql.quarantine
    query = (
        select(func.count())
        .select_from(r.outerjoin(q, q.c.reward_seq == r.c.seq))
        .where(r.c.policy == policy, r.c.excluded.is_(None), q.c.reward_seq.is_(None))
    )
    if through_seq is not None:
        query = query.where(r.c.seq <= through_seq)
    return int(await connection.scalar(query) or 0)


async def version_base(connection: AsyncConnection, *, policy: str) -> int:
    p = _sql.policies
    base = await connection.scalar(select(p.c.version_base).where(p.c.name == policy))
    return int(base or 0)


async def set_version_base(connection: AsyncConnection, *, policy: str, base: int) -> None:
    """Store ``policy``'s version base; it only ever grows, so versions never repeat."""
    p = _sql.policies
    await connection.execute(
        update(p).where(p.c.name == policy, p.c.version_base < base).values(version_base=base)
    )


def _snapshot(row: Any) -> Snapshot:
    return Snapshot(
        policy=row.policy,
        revision=row.revision,
        learned_count=row.learned_count,
        high_water_mark=row.high_water_mark,
        data=bytes(row.data),
        created_at=row.created_at,
        version=row.version,
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
