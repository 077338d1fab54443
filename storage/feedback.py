"""Feedback and the reward join, in the same transaction as the feedback that closes a window."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import ConflictError, NotFoundError
from bandit.reward import Observation, RewardRule, join, window_closed_by
from storage import _sql
from storage.decisions import feedback_from_row
from storage.records import FeedbackInput, FeedbackRecord

__all__ = ["JOINED", "OPEN", "SKIPPED", "due_windows", "join_decision", "record_feedback"]

OPEN = "open"
JOINED = "joined"
SKIPPED = "skipped"


def payload_hash(feedback: FeedbackInput) -> str:
    canonical = json.dumps(asdict(feedback), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_feedback(
    connection: AsyncConnection,
    *,
    feedback: FeedbackInput,
    feedback_id: str,
    rule_for: Callable[[str], RewardRule],
    now: float,
) -> FeedbackRecord:
    """Store ``feedback``; join the decision's reward when this feedback closes its window.

    Feedback after the window is stored with ``late=True`` and never learned. A reused
    idempotency key returns the stored feedback, or raises ``ConflictError`` when the
    payload differs.
    """
    digest = payload_hash(feedback)
    if feedback.idempotency_key is not None:
        existing = (
            await connection.execute(
                select(_sql.feedback).where(
                    _sql.feedback.c.idempotency_key == feedback.idempotency_key
                )
            )
        ).first()
        if existing is not None:
            if existing.payload_hash != digest:
                raise ConflictError(
                    f"Idempotency key {feedback.idempotency_key!r} was already used for "
                    "different feedback."
                )
            return feedback_from_row(existing, created=False)
    decision = (
        await connection.execute(
            select(
                _sql.decisions.c.policy,
                _sql.decisions.c.join_status,
                _sql.decisions.c.window_closes_at,
            ).where(_sql.decisions.c.id == feedback.decision_id)
        )
    ).first()
    if decision is None:
        raise NotFoundError(f"Decision {feedback.decision_id!r} does not exist.")
    late = decision.join_status != OPEN or (
        decision.window_closes_at is not None and now > decision.window_closes_at
    )
    values = {
        "id": feedback_id,
        "decision_id": feedback.decision_id,
        "source": feedback.source,
        "score": feedback.score,
        "cost_usd": feedback.cost_usd,
        "latency_ms": feedback.latency_ms,
        "error": feedback.error,
        "fallback": feedback.fallback,
        "idempotency_key": feedback.idempotency_key,
        "payload_hash": digest,
        "late": late,
        "created_at": now,
    }
    await connection.execute(_sql.feedback.insert().values(**values))
    rule = rule_for(decision.policy)
    closes = window_closed_by(
        rule,
        Observation(feedback.source, now, 0, feedback.score, error=feedback.error is not None),
    )
    if not late and closes:
        await join_decision(
            connection, decision_id=feedback.decision_id, policy=decision.policy, rule=rule, now=now
        )
    row = (
        await connection.execute(select(_sql.feedback).where(_sql.feedback.c.id == feedback_id))
    ).one()
    return feedback_from_row(row)


async def join_decision(
    connection: AsyncConnection, *, decision_id: str, policy: str, rule: RewardRule, now: float
) -> float | None:
    """Close the decision's window: store its reward (or mark it skipped) exactly once."""
    rows = await connection.execute(
        select(_sql.feedback)
        .where(_sql.feedback.c.decision_id == decision_id, _sql.feedback.c.late.is_(False))
        .order_by(_sql.feedback.c.seq)
    )
    observations = [
        Observation(
            source=row.source,
            at=row.created_at,
            seq=row.seq,
            score=row.score,
            cost_usd=row.cost_usd,
            latency_ms=row.latency_ms,
            error=row.error is not None,
        )
        for row in rows
    ]
    joined = join(rule, observations)
    status = SKIPPED if joined.reward is None else JOINED
    closed = await connection.execute(
        update(_sql.decisions)
        .where(_sql.decisions.c.id == decision_id, _sql.decisions.c.join_status == OPEN)
        .values(join_status=status)
    )
    if closed.rowcount == 0 or joined.reward is None:
        return None  # already joined elsewhere, or nothing to learn
    await connection.execute(
        _sql.rewards.insert().values(
            decision_id=decision_id,
            policy=policy,
            reward=joined.reward,
            quality=joined.quality,
            cost_usd=joined.cost_usd,
            latency_ms=joined.latency_ms,
            joined_at=now,
        )
    )
    return joined.reward


async def due_windows(
    connection: AsyncConnection, *, now: float, limit: int
) -> list[tuple[str, str]]:
    """``(decision id, policy)`` of open decisions whose reward window has closed by ``now``."""
    rows = await connection.execute(
        select(_sql.decisions.c.id, _sql.decisions.c.policy)
        .where(
            _sql.decisions.c.join_status == OPEN,
            _sql.decisions.c.window_closes_at.is_not(None),
            _sql.decisions.c.window_closes_at <= now,
        )
        .order_by(_sql.decisions.c.window_closes_at, _sql.decisions.c.id)
        .limit(limit)
    )
    return [(row.id, row.policy) for row in rows]
