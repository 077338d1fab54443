"""What the decision log says about each model: its recent calls and failures (model health),
and the latency and output length its calls reported (eligibility).

A model's calls are the decisions that chose it (``chosen_model``), seen through their
feedback. Both queries read feedback by time (``ix_feedback_created``) and leave voided
feedback out; late feedback counts (late for the reward, still a fact about the call).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, Subquery, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from bandit.health import CallOutcomes, Usage
from storage.tables import DecisionRow, FeedbackRow

__all__ = ["CALL_AGE_SECONDS", "call_outcomes", "model_usage"]

#: A decision made longer than this before a window began does not count as a call in it:
#: a reviewer scoring yesterday's answers is not traffic. An hour is the longest latency a
#: call may report, so a timeout reported late still counts.
CALL_AGE_SECONDS = 3600.0


async def call_outcomes(
    connection: AsyncConnection,
    *,
    since: float,
    until: float,
    since_by_model: Mapping[str, float] | None = None,
) -> dict[str, CallOutcomes]:
    """Per model, its calls with feedback from ``since`` (or the model's own start in
    ``since_by_model``, e.g. its re-admission) to ``until``: how many, how many failed, and
    the last error's text and time. Models without such calls are absent.

    A call is a decision that got unvoided feedback in its model's window; it counts once
    however many feedback it got, and failed when any of them carries an ``error``.
    """
    in_window = _in_call_window(since, until, dict(since_by_model or {}))
    model = col(DecisionRow.chosen_model)
    failed = col(FeedbackRow.error).is_not(None)
    calls = (
        select(
            model.label("model"),
            func.max(case((failed, 1), else_=0)).label("failed"),
        )
        .select_from(FeedbackRow)
        .join(DecisionRow, col(FeedbackRow.decision_id) == col(DecisionRow.id))
        .where(in_window)
        .group_by(model, col(DecisionRow.id))
        .subquery()
    )
    counts = (
        select(
            calls.c.model,
            func.count().label("calls"),
            func.sum(calls.c.failed).label("failures"),
        )
        .group_by(calls.c.model)
        .subquery()
    )
    last = _last_errors(in_window)
    rows = await connection.execute(
        select(counts.c.model, counts.c.calls, counts.c.failures, last.c.error, last.c.at)
        .select_from(counts)
        .outerjoin(last, last.c.model == counts.c.model)
        .order_by(counts.c.model)
    )
    return {
        row.model: CallOutcomes(
            calls=int(row.calls),
            failures=int(row.failures),
            last_error=row.error,
            last_error_at=row.at,
        )
        for row in rows
    }


def _in_call_window(since: float, until: float, starts: dict[str, float]) -> ColumnElement[bool]:
    """Unvoided feedback from the model's start (``since`` unless ``starts`` names one) to
    ``until``, on decisions recent enough to be calls of that window."""
    feedback_at = col(FeedbackRow.created_at)
    model = col(DecisionRow.chosen_model)
    start: ColumnElement[float] = (
        case(*((model == name, literal(at)) for name, at in starts.items()), else_=literal(since))
        if starts
        else literal(since)
    )
    lowest = min([since, *starts.values()])
    return and_(
        feedback_at >= lowest,  # the index's range; the per-model start below refines it
        feedback_at >= start,
        feedback_at <= until,
        col(FeedbackRow.voided_at).is_(None),
        col(DecisionRow.created_at) >= lowest - CALL_AGE_SECONDS,
    )


def _last_errors(in_window: ColumnElement[bool]) -> Subquery:
    """Per model, the newest error of a failed call in the window, and when it came."""
    feedback_at = col(FeedbackRow.created_at)
    model = col(DecisionRow.chosen_model)
    errors = (
        select(
            model.label("model"),
            col(FeedbackRow.error).label("error"),
            feedback_at.label("at"),
            func.row_number()
            .over(partition_by=model, order_by=(feedback_at.desc(), col(FeedbackRow.seq).desc()))
            .label("recency"),
        )
        .select_from(FeedbackRow)
        .join(DecisionRow, col(FeedbackRow.decision_id) == col(DecisionRow.id))
        .where(in_window, col(FeedbackRow.error).is_not(None))
        .subquery()
    )
    return (
        select(errors.c.model, errors.c.error, errors.c.at).where(errors.c.recency == 1).subquery()
    )


async def model_usage(
    connection: AsyncConnection, *, since: float, until: float, limit: int
) -> dict[str, Usage]:
    """Per model, the latencies and output token counts its newest ``limit`` unvoided
    feedback from ``since`` to ``until`` reported (feedback that reports either). Models
    without any are absent.
    """
    if limit < 1:
        raise ValueError(f"The usage sample needs a limit of at least 1, got {limit}.")
    model = col(DecisionRow.chosen_model)
    latency = col(FeedbackRow.latency_ms)
    tokens = col(FeedbackRow.output_tokens)
    ranked = (
        select(
            model.label("model"),
            latency.label("latency_ms"),
            tokens.label("output_tokens"),
            func.row_number()
            .over(partition_by=model, order_by=col(FeedbackRow.seq).desc())
            .label("recency"),
        )
        .select_from(FeedbackRow)
        .join(DecisionRow, col(FeedbackRow.decision_id) == col(DecisionRow.id))
        .where(
            col(FeedbackRow.created_at) >= since,
            col(FeedbackRow.created_at) <= until,
            col(FeedbackRow.voided_at).is_(None),
            or_(latency.is_not(None), tokens.is_not(None)),
        )
        .subquery()
    )
    rows = await connection.execute(
        select(ranked.c.model, ranked.c.latency_ms, ranked.c.output_tokens)
        .where(ranked.c.recency <= limit)
        .order_by(ranked.c.model, ranked.c.recency)
    )
    latencies: dict[str, list[float]] = {}
    outputs: dict[str, list[int]] = {}
    for row in rows:
        latencies.setdefault(row.model, [])
        outputs.setdefault(row.model, [])
        if row.latency_ms is not None:
            latencies[row.model].append(float(row.latency_ms))
        if row.output_tokens is not None:
            outputs[row.model].append(int(row.output_tokens))
    return {
        name: Usage(latencies_ms=tuple(latencies[name]), output_tokens=tuple(outputs[name]))
        for name in latencies
    }
