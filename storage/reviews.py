"""The review sample: decisions waiting for a reviewer, posted answers, reviewer scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Exists, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import ConflictError, NotFoundError
from bandit.judge import JUDGE_SOURCE
from bandit.review import REVIEWER_SOURCE
from domain import DecisionRecord
from storage import _sql
from storage.decisions import decision_from_row

__all__ = [
    "ReviewItem",
    "ReviewerScore",
    "judge_scores_of_reviewed",
    "review_queue",
    "reviewer_scores",
    "store_response",
]


@dataclass(frozen=True, slots=True)
class ReviewItem:
    decision: DecisionRecord
    #: Reviewer scores the decision already has.
    reviews: int


@dataclass(frozen=True, slots=True)
class ReviewerScore:
    """One reviewer's score of one sampled decision."""

    decision_id: str
    model: str
    #: The decision's inclusion probability in the review sample.
    probability: float
    #: None for a score sent without a reviewer name.
    reviewer: str | None
    score: float


def _scored(reviewer: str | None) -> Exists:
    f = _sql.feedback
    condition = and_(
        f.c.decision_id == _sql.decisions.c.id,
        f.c.source == REVIEWER_SOURCE,
        f.c.score.is_not(None),
        f.c.voided_at.is_(None),
    )
    if reviewer is not None:
        condition = and_(condition, f.c.reviewer == reviewer)
    return exists().where(condition)


async def review_queue(
    connection: AsyncConnection, *, policy: str, reviewer: str | None, limit: int
) -> list[ReviewItem]:
    """Sampled decisions of ``policy`` not yet scored (by ``reviewer``, or by anyone when
    None), oldest first, at most ``limit``."""
    d, f = _sql.decisions, _sql.feedback
    rows = (
        await connection.execute(
            select(d)
            .where(d.c.policy == policy, d.c.review_probability.is_not(None), ~_scored(reviewer))
            .order_by(d.c.created_at, d.c.id)
            .limit(limit)
        )
    ).all()
    ids = [row.id for row in rows]
    counts: dict[str, int] = {}
    if ids:
        counted = await connection.execute(
            select(f.c.decision_id, func.count())
            .where(
                f.c.decision_id.in_(ids),
                f.c.source == REVIEWER_SOURCE,
                f.c.score.is_not(None),
                f.c.voided_at.is_(None),
            )
            .group_by(f.c.decision_id)
        )
        counts = {decision_id: int(n) for decision_id, n in counted}
    return [ReviewItem(decision_from_row(row), counts.get(row.id, 0)) for row in rows]


async def store_response(
    connection: AsyncConnection, *, decision_id: str, text: str, now: float
) -> tuple[float, bool]:
    """Store the model's answer to ``decision_id``; returns ``(stored at, newly stored)``.

    The first answer stays: reviews may already be about it. Posting the same text again is a
    no-op; a different text is a ``ConflictError``.
    """
    d = _sql.decisions
    row = (
        await connection.execute(select(d.c.response, d.c.response_at).where(d.c.id == decision_id))
    ).first()
    if row is None:
        raise NotFoundError(f"Decision {decision_id!r} does not exist.")
    if row.response is not None:
        if row.response != text:
            raise ConflictError(
                f"Decision {decision_id!r} already has a different answer; the first answer "
                "posted is kept, since reviews may already be about it."
            )
        return float(row.response_at), False
    await connection.execute(
        update(d).where(d.c.id == decision_id).values(response=text, response_at=now)
    )
    return now, True


async def reviewer_scores(
    connection: AsyncConnection,
    *,
    policy: str,
    since: float | None,
    until: float | None,
    limit: int,
) -> list[ReviewerScore]:
    """Unvoided reviewer scores of ``policy``'s sampled decisions created in ``[since,
    until)``, late ones included (a reviewer's verdict is about the answer, not the reward);
    at most ``limit``, by decision id."""
    d, f = _sql.decisions, _sql.feedback
    query = (
        select(d.c.id, d.c.chosen_model, d.c.review_probability, f.c.reviewer, f.c.score)
        .join(f, f.c.decision_id == d.c.id)
        .where(
            d.c.policy == policy,
            d.c.review_probability.is_not(None),
            f.c.source == REVIEWER_SOURCE,
            f.c.score.is_not(None),
            f.c.voided_at.is_(None),
        )
        .order_by(d.c.id, f.c.seq)
        .limit(limit)
    )
    if since is not None:
        query = query.where(d.c.created_at >= since)
    if until is not None:
        query = query.where(d.c.created_at < until)
    return [
        ReviewerScore(
            row.id, row.chosen_model, float(row.review_probability), row.reviewer, float(row.score)
        )
        for row in await connection.execute(query)
    ]


async def judge_scores_of_reviewed(
    connection: AsyncConnection, *, decision_ids: Sequence[str]
) -> dict[str, float]:
    """The judge's grade of each of ``decision_ids`` it graded (its earliest unvoided one)."""
    f = _sql.feedback
    grades: dict[str, float] = {}
    for start in range(0, len(decision_ids), 500):  # bounded IN lists
        rows = await connection.execute(
            select(f.c.decision_id, f.c.score)
            .where(
                f.c.decision_id.in_(decision_ids[start : start + 500]),
                f.c.source == JUDGE_SOURCE,
                f.c.score.is_not(None),
                f.c.voided_at.is_(None),
            )
            .order_by(f.c.seq)
        )
        for decision_id, score in rows:
            grades.setdefault(decision_id, float(score))
    return grades
