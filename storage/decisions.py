"""The decision log: insert once, read back with feedback and reward."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import NotFoundError
from domain import ChatTurn, DecisionRecord, ExperimentAssignment, FeedbackRecord, RewardRecord
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

#: How a stored conversation is read back.
_Turns = tuple[ChatTurn, ...]

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


def _plain_columns(table: Table, kind: type[object]) -> tuple[str, ...]:
    """The fields of domain type ``kind`` that ``table`` stores as they are, in one column
    of the same name: a field added to both is stored and read without a line here."""
    columns = set(table.c.keys())
    return tuple(f.name for f in dataclasses.fields(kind) if f.name in columns)  # type: ignore[arg-type]


#: The decision's fields that are not plain columns: stored in a compact or derived form.
_DECISION_ENCODED = frozenset(
    {"context", "arms", "pmf", "caller_features", "experiment", "routing", "conversation"}
)
_DECISION_PLAIN = tuple(
    name for name in _plain_columns(_sql.decisions, DecisionRecord) if name not in _DECISION_ENCODED
)
_FEEDBACK_PLAIN = _plain_columns(_sql.feedback, FeedbackRecord)
_REWARD_PLAIN = _plain_columns(_sql.rewards, RewardRecord)


def decision_row(decision: DecisionRecord) -> dict[str, Any]:
    """The ``decisions`` row that logs ``decision``."""
    experiment = decision.experiment
    row = {name: getattr(decision, name) for name in _DECISION_PLAIN}
    row.update(
        context=context_to_json(decision.context),
        arms=arms_to_json(decision.arms),
        pmf=list(decision.pmf),
        chosen_model=decision.chosen_model,
        propensity=decision.propensity,
        caller_features=dict(decision.caller_features),
        experiment=to_stored(experiment),
        experiment_id=None if experiment is None else experiment.id,
        experiment_arm=None if experiment is None else experiment.arm,
        experiment_stage=None if experiment is None else experiment.stage,
        routing=None if decision.routing is None else routing_to_json(decision.routing),
        conversation=None if decision.conversation is None else to_stored(decision.conversation),
    )
    return row


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
        **{name: getattr(row, name) for name in _DECISION_PLAIN},
        context=context_from_json(row.context),
        arms=arms_from_json(row.arms),
        pmf=tuple(float(p) for p in row.pmf),
        caller_features=dict(row.caller_features),
        experiment=None
        if row.experiment is None
        else from_stored(row.experiment, ExperimentAssignment),
        routing=None if row.routing is None else routing_from_json(row.routing),
        conversation=None if row.conversation is None else from_stored(row.conversation, _Turns),
        feedback=feedback,
        reward=reward,
    )


def feedback_from_row(row: Any, *, created: bool = True) -> FeedbackRecord:
    return FeedbackRecord(**{name: getattr(row, name) for name in _FEEDBACK_PLAIN}, created=created)


def reward_from_row(row: Any) -> RewardRecord:
    return RewardRecord(**{name: getattr(row, name) for name in _REWARD_PLAIN})
