"""Feedback and the reward join, on an in-memory SQLite database: no server, no thread.

What the server's tests show end to end, here case by case: a window closed by the first
score, a timed window closed by the clock, late feedback kept but never learned, idempotent
retries, and the cost term of the reward.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine, select
from sqlmodel import SQLModel

from bandit.decide import Routed
from bandit.eligibility import Constraints
from bandit.errors import ConflictError, NotFoundError
from bandit.reward import RewardRule
from bandit.types import Arm, Context
from domain import (
    JOINED,
    OPEN,
    FeedbackInput,
    LearnerState,
    PolicyConfig,
    PolicyRecord,
    new_decision,
)
from storage import _sql
from storage.decisions import decision_row
from storage.feedback import due_windows, join_decision, record_feedback

NOW = 1_700_000_000.0


@pytest.fixture
def connection() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    SQLModel.metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def _policy(rule: RewardRule) -> PolicyRecord:
    config = PolicyConfig(models=("a", "b"), reward=rule)
    return PolicyRecord("p", 1, config, created_at=0.0, updated_at=0.0)


def _decide(connection: Connection, policy: PolicyRecord, decision_id: str = "d-1") -> None:
    decision = new_decision(
        decision_id=decision_id,
        policy=policy,
        learner=LearnerState(revision=1, version=0, learned_count=0),
        routed=Routed(arms=(Arm("a"), Arm("b")), pmf=(0.5, 0.5), chosen=0, fallbacks=("b",)),
        context=Context(),
        constraints=Constraints(),
        request_hash="h",
        now=NOW,
        caller_features={},
        prompt=None,
        prompt_hash=None,
        prompt_tokens=0.0,
        trace_id=None,
    )
    connection.execute(_sql.decisions.insert().values(**decision_row(decision)))


def _send(
    connection: Connection, policy: PolicyRecord, at: float, **fields: object
) -> tuple[str, bool, bool]:
    """Record one feedback; its id, whether it was stored anew, and whether it is late."""
    feedback = FeedbackInput(decision_id=str(fields.pop("decision_id", "d-1")), **fields)  # type: ignore[arg-type]
    stored = record_feedback(
        connection,
        feedback=feedback,
        feedback_id=f"f-{at}-{len(fields)}",
        rule_for=lambda name: policy.config.reward,
        now=at,
    )
    return stored.id, stored.created, stored.late


def _rewards(connection: Connection) -> list[tuple[str, float]]:
    """Each joined reward, rounded: the sums are floats."""
    rows = connection.execute(select(_sql.rewards.c.decision_id, _sql.rewards.c.reward))
    return [(row.decision_id, round(row.reward, 9)) for row in rows]


def _status(connection: Connection, decision_id: str = "d-1") -> str:
    d = _sql.decisions
    return str(connection.execute(select(d.c.join_status).where(d.c.id == decision_id)).scalar())


def test_the_first_score_closes_an_untimed_window_and_joins_the_reward(
    connection: Connection,
) -> None:
    policy = _policy(RewardRule())
    _decide(connection, policy)
    _send(connection, policy, NOW + 1, source="user", score=0.8)
    assert _rewards(connection) == [("d-1", 0.8)]
    assert _status(connection) == JOINED
    # What arrives after the join is kept, flagged late, and changes nothing learned.
    _id, created, late = _send(connection, policy, NOW + 2, source="judge", score=0.1)
    assert (created, late) == (True, True)
    assert _rewards(connection) == [("d-1", 0.8)]


def test_a_timed_window_joins_what_arrived_in_it_when_the_clock_closes_it(
    connection: Connection,
) -> None:
    policy = _policy(RewardRule(wait_seconds=60.0))
    _decide(connection, policy)
    _send(connection, policy, NOW + 10, source="user", score=1.0)
    _send(connection, policy, NOW + 20, source="user", cost_usd=0.5)
    assert _rewards(connection) == []
    assert _status(connection) == OPEN
    assert due_windows(connection, now=NOW + 59, limit=10) == []
    assert due_windows(connection, now=NOW + 60, limit=10) == [("d-1", "p")]
    joined = join_decision(
        connection, decision_id="d-1", policy="p", rule=policy.config.reward, now=NOW + 60
    )
    assert joined == pytest.approx(1.0)
    # Joining twice stores nothing more: a reward is joined exactly once.
    again = join_decision(
        connection, decision_id="d-1", policy="p", rule=policy.config.reward, now=NOW + 61
    )
    assert again is None
    assert len(_rewards(connection)) == 1


def test_the_cost_weight_takes_the_reported_cost_off_the_score(connection: Connection) -> None:
    policy = _policy(RewardRule(cost_weight=0.5))
    _decide(connection, policy)
    _send(connection, policy, NOW + 1, source="user", score=0.9, cost_usd=0.2)
    assert _rewards(connection) == [("d-1", 0.8)]


def test_a_retry_returns_the_stored_feedback_and_a_changed_payload_is_refused(
    connection: Connection,
) -> None:
    policy = _policy(RewardRule(wait_seconds=60.0))
    _decide(connection, policy)
    first, created, _late = _send(
        connection, policy, NOW + 1, source="user", score=0.5, idempotency_key="k"
    )
    retried, created_again, _late = _send(
        connection, policy, NOW + 2, source="user", score=0.5, idempotency_key="k"
    )
    assert (created, created_again, retried) == (True, False, first)
    with pytest.raises(ConflictError, match="'k' was already used"):
        _send(connection, policy, NOW + 3, source="user", score=0.6, idempotency_key="k")


def test_feedback_for_an_unknown_decision_is_not_stored(connection: Connection) -> None:
    policy = _policy(RewardRule())
    with pytest.raises(NotFoundError, match="'nope'"):
        _send(connection, policy, NOW, decision_id="nope", source="user", score=1.0)
    assert connection.execute(select(_sql.feedback)).first() is None
