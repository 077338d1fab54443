"""What the log says about a policy's quality signal: decisions that got none, and what its
judge spent.

A decision has a quality signal when a feedback with a score (any source, in or out of its
window, not voided) reached it. Both queries read a recent stretch of time through the
``created_at`` indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.judge import JUDGE_SOURCE
from storage import _sql

__all__ = ["QualityCounts", "judge_spend", "quality_counts"]


@dataclass(frozen=True, slots=True)
class QualityCounts:
    """A policy's decisions made since some moment, and how many of them got no score."""

    decisions: int
    without_quality: int
    #: Feedback with a score since then, from any source.
    scored: int


async def quality_counts(
    connection: AsyncConnection, *, policy: str, since: float
) -> QualityCounts:
    d, f = _sql.decisions, _sql.feedback
    scored = exists().where(
        f.c.decision_id == d.c.id, f.c.score.is_not(None), f.c.voided_at.is_(None)
    )
    recent = and_(d.c.policy == policy, d.c.created_at >= since)
    row = (
        await connection.execute(
            select(
                func.count(),
                func.count().filter(~scored),
            ).where(recent)
        )
    ).one()
    decisions, without = int(row[0]), int(row[1])
    return QualityCounts(decisions, without, decisions - without)


async def judge_spend(connection: AsyncConnection, *, policy: str, since: float) -> float:
    """USD the policy's judge spent on grading since ``since`` (its own calls only)."""
    d, f = _sql.decisions, _sql.feedback
    spent = await connection.scalar(
        select(func.coalesce(func.sum(f.c.grading_cost_usd), 0.0))
        .select_from(f.join(d, d.c.id == f.c.decision_id))
        .where(f.c.source == JUDGE_SOURCE, f.c.created_at >= since, d.c.policy == policy)
    )
    return float(spent or 0.0)
