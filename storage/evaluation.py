"""The rewarded decisions of a policy in a time range, as off-policy estimators need them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.types import Arm, Context
from storage import _sql
from storage.codec import arms_from_json, context_from_json

__all__ = ["RewardedDecision", "rewarded_decisions"]


@dataclass(frozen=True, slots=True)
class RewardedDecision:
    context: Context
    arms: tuple[Arm, ...]
    pmf: tuple[float, ...]
    chosen: int
    reward: float
    quality: float | None
    cost_usd: float | None
    created_at: float


async def rewarded_decisions(
    connection: AsyncConnection,
    *,
    policy: str,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[RewardedDecision]:
    """Joined decisions of ``policy`` created in ``[since, until)``, oldest first, at most
    ``limit`` (the newest ones are dropped beyond it)."""
    d, r = _sql.decisions, _sql.rewards
    query = (
        select(
            d.c.context,
            d.c.arms,
            d.c.pmf,
            d.c.chosen_index,
            d.c.created_at,
            r.c.reward,
            r.c.quality,
            r.c.cost_usd,
        )
        .join(r, r.c.decision_id == d.c.id)
        .where(d.c.policy == policy, _sql.usable_reward())
        .order_by(d.c.created_at, d.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(d.c.created_at >= since)
    if until is not None:
        query = query.where(d.c.created_at < until)
    return [
        RewardedDecision(
            context=context_from_json(row.context),
            arms=arms_from_json(row.arms),
            pmf=tuple(float(p) for p in row.pmf),
            chosen=row.chosen_index,
            reward=row.reward,
            quality=row.quality,
            cost_usd=row.cost_usd,
            created_at=row.created_at,
        )
        for row in await connection.execute(query)
    ]
