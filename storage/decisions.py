"""The decision log: insert once, read back with feedback and reward."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import NotFoundError
from domain import DecisionRecord, ExperimentAssignment, FeedbackRecord, RewardRecord
from storage import _sql
from storage.codec import (
    arms_from_json,
    arms_to_json,
    context_from_json,
    context_to_json,
    from_stored,
    routing_from_json,
    routing_to_json,
    to_stored,
)
from storage.writer import GroupCommitter

__all__ = [
    "decision_policy",
    "decision_row",
    "find_decision",
    "get_decision",
    "insert_decision",
    "log_decision",
]


async def insert_decision(connection: AsyncConnection, *, decision: DecisionRecord) -> bool:
    """Log ``decision``; False when a decision with its id already exists (left untouched)."""
    return await _sql.insert_unless_exists(connection, _sql.decisions, decision_row(decision))


async def log_decision(committer: GroupCommitter, decision: DecisionRecord) -> bool:
    """``insert_decision`` through the group commit, one statement for a whole batch of
    decisions; False when a decision with its id already exists (left untouched)."""
    return await committer.insert(_sql.decisions, decision_row(decision))


def decision_row(decision: DecisionRecord) -> dict[str, Any]:
    """The ``decisions`` row that logs ``decision``."""
    experiment = decision.experiment
    return {
        "id": decision.id,
        "policy": decision.policy,
        "policy_revision": decision.policy_revision,
        "policy_version": decision.policy_version,
        "learned_count": decision.learned_count,
        "request_hash": decision.request_hash,
        "context": context_to_json(decision.context),
        "arms": arms_to_json(decision.arms),
        "pmf": list(decision.pmf),
        "chosen_index": decision.chosen_index,
        "chosen_model": decision.chosen_model,
        "propensity": decision.propensity,
        "caller_features": dict(decision.caller_features),
        "prompt_hash": decision.prompt_hash,
        "prompt": decision.prompt,
        "experiment": to_stored(experiment),
        "experiment_id": None if experiment is None else experiment.id,
        "experiment_arm": None if experiment is None else experiment.arm,
        "experiment_stage": None if experiment is None else experiment.stage,
        "experiment_unit": decision.experiment_unit,
        "created_at": decision.created_at,
        "join_status": decision.join_status,
        "window_closes_at": decision.window_closes_at,
        "review_probability": decision.review_probability,
        "trace_id": decision.trace_id,
        "routing": None if decision.routing is None else routing_to_json(decision.routing),
        "fallback_of": decision.fallback_of,
        "escalation_of": decision.escalation_of,
        "prior_cost_usd": decision.prior_cost_usd,
    }


async def find_decision(
    connection: AsyncConnection, *, decision_id: str, with_outcome: bool = False
) -> DecisionRecord | None:
    row = (
        await connection.execute(select(_sql.decisions).where(_sql.decisions.c.id == decision_id))
    ).first()
    if row is None:
        return None
    if not with_outcome:
        return decision_from_row(row)
    feedback_rows = await connection.execute(
        select(_sql.feedback)
        .where(_sql.feedback.c.decision_id == decision_id)
        .order_by(_sql.feedback.c.seq)
    )
    reward_row = (
        await connection.execute(
            select(_sql.rewards).where(_sql.rewards.c.decision_id == decision_id)
        )
    ).first()
    return decision_from_row(
        row,
        feedback=tuple(feedback_from_row(f) for f in feedback_rows),
        reward=None if reward_row is None else reward_from_row(reward_row),
    )


async def decision_policy(connection: AsyncConnection, *, decision_id: str) -> str | None:
    """The policy of a decision, or ``None`` when there is no such decision."""
    d = _sql.decisions
    found = await connection.execute(select(d.c.policy).where(d.c.id == decision_id))
    return found.scalar_one_or_none()


async def get_decision(connection: AsyncConnection, *, decision_id: str) -> DecisionRecord:
    decision = await find_decision(connection, decision_id=decision_id, with_outcome=True)
    if decision is None:
        raise NotFoundError(f"Decision {decision_id!r} does not exist.")
    return decision


def decision_from_row(
    row: Any,
    *,
    feedback: tuple[FeedbackRecord, ...] = (),
    reward: RewardRecord | None = None,
) -> DecisionRecord:
    return DecisionRecord(
        id=row.id,
        policy=row.policy,
        policy_revision=row.policy_revision,
        policy_version=row.policy_version,
        learned_count=row.learned_count,
        request_hash=row.request_hash,
        context=context_from_json(row.context),
        arms=arms_from_json(row.arms),
        pmf=tuple(float(p) for p in row.pmf),
        chosen_index=row.chosen_index,
        caller_features=dict(row.caller_features),
        prompt_hash=row.prompt_hash,
        prompt=row.prompt,
        experiment=None
        if row.experiment is None
        else from_stored(row.experiment, ExperimentAssignment),
        created_at=row.created_at,
        join_status=row.join_status,
        window_closes_at=row.window_closes_at,
        feedback=feedback,
        reward=reward,
        experiment_unit=row.experiment_unit,
        review_probability=row.review_probability,
        response=row.response,
        trace_id=row.trace_id,
        routing=None if row.routing is None else routing_from_json(row.routing),
        fallback_of=row.fallback_of,
        escalation_of=row.escalation_of,
        prior_cost_usd=row.prior_cost_usd,
    )


def feedback_from_row(row: Any, *, created: bool = True) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id,
        decision_id=row.decision_id,
        source=row.source,
        score=row.score,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        error=row.error,
        idempotency_key=row.idempotency_key,
        late=row.late,
        created_at=row.created_at,
        fallback=row.fallback,
        created=created,
        void_reason=row.void_reason,
        voided_at=row.voided_at,
        reviewer=row.reviewer,
        comment=row.comment,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
    )


def reward_from_row(row: Any) -> RewardRecord:
    return RewardRecord(
        seq=row.seq,
        reward=row.reward,
        quality=row.quality,
        cost_usd=row.cost_usd,
        latency_ms=row.latency_ms,
        joined_at=row.joined_at,
    )
