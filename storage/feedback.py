"""Feedback and the reward join, in the same transaction as the feedback that closes a window.

The writes are plain functions of a synchronous ``Connection``: the group commit runs them
(``GroupCommitter.run_sync``) in its own thread on SQLite; async callers wrap them in
``AsyncConnection.run_sync``. ``feedback_policy``, a read, stays async.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import ConflictError, NotFoundError
from bandit.reward import (
    PROXY_SOURCE,
    JoinedReward,
    Observation,
    RewardRule,
    join,
    window_closed_by,
)
from domain import JOINED, OPEN, SKIPPED, FeedbackInput, FeedbackRecord
from storage import _sql
from storage.decisions import feedback_from_row

__all__ = [
    "VoidOutcome",
    "due_windows",
    "feedback_policy",
    "join_decision",
    "record_feedback",
    "void_feedback",
]


#: What a caller sends of one feedback: stored as sent, and hashed to tell a retry from a
#: different payload under the same idempotency key.
_SENT = tuple(field.name for field in dataclasses.fields(FeedbackInput))
#: The fields the payload hash always covered; a field added later is hashed only when set,
#: so a retry of feedback stored before it existed still hashes the same.
_HASHED_SINCE_THE_START = frozenset(
    {
        "decision_id",
        "source",
        "score",
        "cost_usd",
        "latency_ms",
        "error",
        "idempotency_key",
        "fallback",
    }
)


def payload_hash(feedback: FeedbackInput) -> str:
    fields = {
        name: getattr(feedback, name)
        for name in _SENT
        if name in _HASHED_SINCE_THE_START or getattr(feedback, name) is not None
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_feedback(
    connection: Connection,
    *,
    feedback: FeedbackInput,
    feedback_id: str,
    rule_for: Callable[[str], RewardRule],
    now: float,
    join_now: bool = True,
) -> FeedbackRecord:
    """Store ``feedback``; join the decision's reward when this feedback closes its window.

    Feedback on a continuation (a later turn of a session) is stored on the session's first
    decision, except the proxy's own report of the turn's call (its cost, latency, error).

    With ``join_now=False`` (a process that is not the learner) a closing feedback only marks
    the window due now, and the learner joins it: one process assigns the join order.

    Feedback after the window is stored with ``late=True`` and never learned. A reused
    idempotency key returns the stored feedback, or raises ``ConflictError`` when the
    payload differs.
    """
    digest = payload_hash(feedback)
    existing = _same_key(connection, feedback, digest)
    decision = _decision_of(
        connection, feedback.decision_id if existing is None else existing.decision_id
    )
    if decision is None:
        raise NotFoundError(f"Decision {feedback.decision_id!r} does not exist.")
    if existing is None:
        feedback, decision = _to_session(connection, feedback, decision)
    if existing is not None:
        return dataclasses.replace(
            feedback_from_row(existing, created=False),
            policy=decision.policy,
            model=decision.chosen_model,
        )
    late = decision.join_status != OPEN or (
        decision.window_closes_at is not None and now > decision.window_closes_at
    )
    sent = {name: getattr(feedback, name) for name in _SENT}
    values = {**sent, "id": feedback_id, "payload_hash": digest, "late": late, "created_at": now}
    connection.execute(_sql.feedback.insert().values(**values))
    rule = rule_for(decision.policy)
    observed = Observation(
        feedback.source, now, 0, feedback.score, error=feedback.error is not None
    )
    if not late and window_closed_by(rule, observed):
        _close_window(connection, feedback.decision_id, decision, rule, now, join_now=join_now)
    # Built from what was inserted rather than read back: one statement fewer per feedback.
    return FeedbackRecord(
        **sent,
        id=feedback_id,
        late=late,
        created_at=now,
        policy=decision.policy,
        model=decision.chosen_model,
    )


def _to_session(
    connection: Connection, feedback: FeedbackInput, decision: Any
) -> tuple[FeedbackInput, Any]:
    """Feedback on a later turn of a session is about the session, whose first decision the
    bandit made: it goes there. What the proxy observed of the turn's call stays with it."""
    if decision.continues is None or feedback.source == PROXY_SOURCE:
        return feedback, decision
    session = _decision_of(connection, decision.continues)
    if session is None:  # deleted by retention: the turn keeps it
        return feedback, decision
    return dataclasses.replace(feedback, decision_id=decision.continues), session


def _decision_of(connection: Connection, decision_id: str) -> Any:
    """What feedback needs of its decision: policy, model, window, prior cost."""
    d = _sql.decisions
    columns = (d.c.policy, d.c.chosen_model, d.c.join_status, d.c.window_closes_at)
    return connection.execute(
        select(*columns, d.c.prior_cost_usd, d.c.judge_probability, d.c.continues).where(
            d.c.id == decision_id
        )
    ).first()


def _same_key(connection: Connection, feedback: FeedbackInput, digest: str) -> Any:
    """The feedback stored under ``feedback``'s idempotency key (a retry), if any; a
    different payload under the same key is a ``ConflictError``."""
    if feedback.idempotency_key is None:
        return None
    f = _sql.feedback
    existing = connection.execute(
        select(f).where(f.c.idempotency_key == feedback.idempotency_key)
    ).first()
    if existing is not None and existing.payload_hash != digest:
        raise ConflictError(
            f"Idempotency key {feedback.idempotency_key!r} was already used for different feedback."
        )
    return existing


def _close_window(
    connection: Connection,
    decision_id: str,
    decision: Any,
    rule: RewardRule,
    now: float,
    *,
    join_now: bool,
) -> None:
    """Join the decision now, or (a process that does not lead) mark its window due now for
    the learner to join."""
    if join_now:
        join_decision(
            connection,
            decision_id=decision_id,
            policy=decision.policy,
            rule=rule,
            now=now,
            prior_cost_usd=decision.prior_cost_usd or 0.0,
            sampled=decision.judge_probability is not None,
        )
        return
    d = _sql.decisions
    connection.execute(
        update(d).where(d.c.id == decision_id, d.c.join_status == OPEN).values(window_closes_at=now)
    )


def join_decision(
    connection: Connection,
    *,
    decision_id: str,
    policy: str,
    rule: RewardRule,
    now: float,
    prior_cost_usd: float | None = None,
    sampled: bool = False,
) -> float | None:
    """Close the decision's window: store its reward (or mark it skipped) exactly once.

    ``prior_cost_usd`` and ``sampled`` (in the judge's sample) are the decision's, when the
    caller has read them already."""
    if prior_cost_usd is None:
        joined = _join(connection, decision_id, rule)
    else:
        observations = _observations(connection, decision_id)
        joined = join(rule, observations, prior_cost_usd=prior_cost_usd, sampled=sampled)
    status = SKIPPED if joined.reward is None else JOINED
    closed = connection.execute(
        update(_sql.decisions)
        .where(_sql.decisions.c.id == decision_id, _sql.decisions.c.join_status == OPEN)
        .values(join_status=status)
    )
    if closed.rowcount == 0 or joined.reward is None:
        return None  # already joined elsewhere, or nothing to learn
    connection.execute(
        _sql.rewards.insert().values(**_reward_row(decision_id, policy, joined, now))
    )
    return joined.reward


def due_windows(connection: Connection, *, now: float, limit: int) -> list[tuple[str, str]]:
    """``(decision id, policy)`` of open decisions whose reward window has closed by ``now``."""
    rows = connection.execute(
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


@dataclass(frozen=True, slots=True)
class VoidOutcome:
    feedback: FeedbackRecord
    policy: str
    #: The reward row whose learned value changed (re-joined or excluded), if any: every
    #: learner state that includes it must be rebuilt.
    changed_seq: int | None
    #: False when the feedback was voided before (voiding again changes nothing).
    newly_voided: bool = True


async def feedback_policy(connection: AsyncConnection, *, feedback_id: str) -> str:
    """The policy whose decision ``feedback_id`` is about."""
    f, d = _sql.feedback, _sql.decisions
    policy = await connection.scalar(
        select(d.c.policy).join(f, f.c.decision_id == d.c.id).where(f.c.id == feedback_id)
    )
    if policy is None:
        raise NotFoundError(f"Feedback {feedback_id!r} does not exist.")
    return str(policy)


def void_feedback(
    connection: Connection,
    *,
    feedback_id: str,
    reason: str,
    rule: RewardRule,
    now: float,
) -> VoidOutcome:
    """Flag ``feedback_id`` as voided (it is never deleted) and join its decision again.

    The decision's reward is recomputed from its other in-window, unvoided feedback with the
    policy's current reward rule: the reward row keeps its join position with the new value,
    or is deleted (derived data) when nothing is left to learn. Voiding twice changes nothing.
    """
    f, d = _sql.feedback, _sql.decisions
    row = (connection.execute(select(f).where(f.c.id == feedback_id))).first()
    if row is None:
        raise NotFoundError(f"Feedback {feedback_id!r} does not exist.")
    decision = (
        connection.execute(select(d.c.policy, d.c.join_status).where(d.c.id == row.decision_id))
    ).one()
    if row.voided_at is not None:
        return VoidOutcome(
            feedback_from_row(row, created=False), decision.policy, None, newly_voided=False
        )
    connection.execute(
        update(f).where(f.c.id == feedback_id).values(void_reason=reason, voided_at=now)
    )
    changed: int | None = None
    # Late feedback was never joined, and an open window will be joined without it anyway.
    if not row.late and decision.join_status != OPEN:
        changed = _join_again(connection, row.decision_id, decision.policy, rule, now)
    stored = (connection.execute(select(f).where(f.c.id == feedback_id))).one()
    return VoidOutcome(feedback_from_row(stored), decision.policy, changed)


def _join_again(
    connection: Connection, decision_id: str, policy: str, rule: RewardRule, now: float
) -> int | None:
    """Join a decision again after one of its feedback was voided; the reward row whose
    learned value changed (re-joined or dropped), if any."""
    r, d = _sql.rewards, _sql.decisions
    joined = _join(connection, decision_id, rule)
    reward = connection.execute(select(r).where(r.c.decision_id == decision_id)).first()
    changed: int | None = None
    if reward is None:
        if joined.reward is not None:  # nothing was learned yet: a new join at the end
            connection.execute(r.insert().values(**_reward_row(decision_id, policy, joined, now)))
    elif joined.reward is None:
        # The reward was derived from the voided feedback alone: drop the derived row (the
        # feedback stays, flagged), so evaluation, experiments and export see no reward.
        connection.execute(delete(r).where(r.c.seq == reward.seq))
        if reward.excluded is None:
            changed = reward.seq
    else:
        connection.execute(
            update(r)
            .where(r.c.seq == reward.seq)
            .values(
                reward=joined.reward,
                quality=joined.quality,
                cost_usd=joined.cost_usd,
                latency_ms=joined.latency_ms,
            )
        )
        if reward.excluded is None and reward.reward != joined.reward:
            changed = reward.seq
    connection.execute(
        update(d)
        .where(d.c.id == decision_id)
        .values(join_status=SKIPPED if joined.reward is None else JOINED)
    )
    return changed


def _reward_row(
    decision_id: str, policy: str, joined: JoinedReward, now: float
) -> dict[str, object]:
    return {
        "decision_id": decision_id,
        "policy": policy,
        "reward": joined.reward,
        "quality": joined.quality,
        "cost_usd": joined.cost_usd,
        "latency_ms": joined.latency_ms,
        "joined_at": now,
    }


def _join(connection: Connection, decision_id: str, rule: RewardRule) -> JoinedReward:
    """The decision's reward from its counting feedback and what was spent before it."""
    d = _sql.decisions
    decision = connection.execute(
        select(d.c.prior_cost_usd, d.c.judge_probability).where(d.c.id == decision_id)
    ).first()
    prior = None if decision is None else decision.prior_cost_usd
    return join(
        rule,
        _observations(connection, decision_id),
        prior_cost_usd=prior or 0.0,
        sampled=decision is not None and decision.judge_probability is not None,
    )


def _observations(connection: Connection, decision_id: str) -> list[Observation]:
    """The decision's feedback that counts for its reward: in its window and not voided."""
    rows = connection.execute(
        select(_sql.feedback)
        .where(
            _sql.feedback.c.decision_id == decision_id,
            _sql.feedback.c.late.is_(False),
            _sql.feedback.c.voided_at.is_(None),
        )
        .order_by(_sql.feedback.c.seq)
    )
    return [
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
