"""Per-model calls, failures and usage read from the decision log, on both backends."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.health import CallOutcomes, Usage
from bandit.types import Arm, Context
from domain import DecisionRecord, PolicyConfig
from storage import _sql
from storage.codec import config_to_json
from storage.decisions import insert_decision
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.model_stats import CALL_AGE_SECONDS, call_outcomes, model_usage

MODELS = ("alpha", "beta", "gamma")
NOW = 1_700_000_000.0


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    async with engine.begin() as connection:
        await connection.execute(
            _sql.policies.insert().values(
                name="p",
                revision=1,
                config=config_to_json(PolicyConfig(models=MODELS)),
                created_at=0.0,
                updated_at=0.0,
            )
        )
    try:
        yield engine
    finally:
        await engine.dispose()


class _Log:
    """Writes decisions and their feedback; feedback ids and sequence follow call order."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._ids = itertools.count()

    async def decision(self, decision_id: str, model: str, *, at: float) -> None:
        record = DecisionRecord(
            id=decision_id,
            policy="p",
            policy_revision=1,
            policy_version=0,
            learned_count=0,
            request_hash="h",
            context=Context(),
            arms=tuple(Arm(m) for m in MODELS),
            pmf=(1 / 3, 1 / 3, 1 / 3),
            chosen_index=MODELS.index(model),
            caller_features={},
            prompt_hash=None,
            prompt=None,
            experiment=None,
            created_at=at,
            join_status="open",
            window_closes_at=None,
        )
        async with self.engine.begin() as connection:
            assert await insert_decision(connection, decision=record)

    async def feedback(self, decision_id: str, *, at: float, **values: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                _sql.feedback.insert().values(
                    id=f"f{next(self._ids)}",
                    decision_id=decision_id,
                    source=values.pop("source", "app"),
                    payload_hash="x",
                    late=False,
                    created_at=at,
                    **values,
                )
            )


async def test_calls_count_once_per_decision_and_fail_on_any_error(engine: AsyncEngine) -> None:
    log = _Log(engine)
    # alpha: an error and a judge's score on one call; a success; a call failing twice.
    await log.decision("a1", "alpha", at=NOW - 50)
    await log.feedback("a1", at=NOW - 49, error="429 rate limited")
    await log.feedback("a1", at=NOW - 30, source="judge", score=0.2)
    await log.decision("a2", "alpha", at=NOW - 40)
    await log.feedback("a2", at=NOW - 39, latency_ms=800.0)
    await log.decision("a3", "alpha", at=NOW - 25)
    await log.feedback("a3", at=NOW - 20, error="500 internal error")
    await log.feedback("a3", at=NOW - 5, error="timeout after 20 s")
    # Two errors at the same time: the later written is the last.
    await log.decision("a4", "alpha", at=NOW - 3)
    await log.feedback("a4", at=NOW - 2, error="first")
    await log.feedback("a4", at=NOW - 2, error="second")
    # Left out: a voided error, feedback before the window or after its end, a score on a
    # decision made long before the window (a reviewer catching up), a decision without
    # feedback.
    await log.decision("a5", "alpha", at=NOW - 10)
    await log.feedback("a5", at=NOW - 9, error="wrong report", voided_at=NOW - 8, void_reason="x")
    await log.decision("a6", "alpha", at=NOW - 200)
    await log.feedback("a6", at=NOW - 199, error="old")
    await log.decision("a7", "alpha", at=NOW - 20)
    await log.feedback("a7", at=NOW + 1, error="after the end")
    await log.decision("a8", "alpha", at=NOW - 60 - CALL_AGE_SECONDS - 1)
    await log.feedback("a8", at=NOW - 10, source="reviewer", score=1.0)
    await log.decision("a9", "alpha", at=NOW - 10)
    # A late timeout still counts: the call was decided 20 minutes before it was reported.
    await log.decision("b1", "beta", at=NOW - 1200)
    await log.feedback("b1", at=NOW - 1, error="timeout")
    await log.decision("g1", "gamma", at=NOW - 10)

    async with engine.connect() as connection:
        found = await call_outcomes(connection, since=NOW - 60, until=NOW)

    assert found == {
        "alpha": CallOutcomes(calls=4, failures=3, last_error="second", last_error_at=NOW - 2),
        "beta": CallOutcomes(calls=1, failures=1, last_error="timeout", last_error_at=NOW - 1),
    }


async def test_a_model_s_own_window_start_leaves_earlier_calls_out(engine: AsyncEngine) -> None:
    log = _Log(engine)
    for index, at in enumerate((NOW - 50, NOW - 40, NOW - 20, NOW - 10)):
        for model in ("alpha", "beta"):
            decision_id = f"{model}{index}"
            await log.decision(decision_id, model, at=at)
            await log.feedback(decision_id, at=at + 1, error=f"{model} down {index}")

    async with engine.connect() as connection:
        found = await call_outcomes(
            connection, since=NOW - 60, until=NOW, since_by_model={"beta": NOW - 30}
        )

    assert found["alpha"] == CallOutcomes(4, 4, "alpha down 3", NOW - 9)
    assert found["beta"] == CallOutcomes(2, 2, "beta down 3", NOW - 9)


async def test_no_calls_no_outcomes(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await call_outcomes(connection, since=NOW - 60, until=NOW) == {}
        assert await model_usage(connection, since=NOW - 3600, until=NOW, limit=10) == {}


async def test_usage_is_the_newest_reports_of_each_model(engine: AsyncEngine) -> None:
    log = _Log(engine)
    for index in range(30):
        decision_id = f"a{index}"
        await log.decision(decision_id, "alpha", at=NOW - 100 + index)
        await log.feedback(
            decision_id,
            at=NOW - 99 + index,
            latency_ms=float(index),
            output_tokens=10 * index,
            input_tokens=5,
        )
    # A score-only feedback reports no usage; tokens without latency count for tokens only.
    await log.feedback("a0", at=NOW - 1, source="judge", score=0.5)
    await log.decision("b1", "beta", at=NOW - 10)
    await log.feedback("b1", at=NOW - 9, output_tokens=7)
    # Left out: voided, before the window.
    await log.feedback("b1", at=NOW - 8, latency_ms=5.0, voided_at=NOW, void_reason="x")
    await log.decision("b0", "beta", at=NOW - 7200)
    await log.feedback("b0", at=NOW - 7199, latency_ms=9.0)

    async with engine.connect() as connection:
        found = await model_usage(connection, since=NOW - 3600, until=NOW, limit=25)

    newest = range(29, 4, -1)
    assert found == {
        "alpha": Usage(
            latencies_ms=tuple(float(i) for i in newest),
            output_tokens=tuple(10 * i for i in newest),
        ),
        "beta": Usage(latencies_ms=(), output_tokens=(7,)),
    }
    with pytest.raises(ValueError, match="limit of at least 1"):
        async with engine.connect() as connection:
            await model_usage(connection, since=0.0, until=NOW, limit=0)


async def test_tokens_round_trip_through_feedback(engine: AsyncEngine) -> None:
    from bandit.reward import RewardRule
    from domain import FeedbackInput
    from storage.feedback import record_feedback

    log = _Log(engine)
    await log.decision("d", "alpha", at=NOW)
    feedback = FeedbackInput(
        decision_id="d", source="app", latency_ms=10.0, input_tokens=1200, output_tokens=340
    )
    async with engine.begin() as connection:
        stored = await connection.run_sync(
            lambda sync: record_feedback(
                sync,
                feedback=feedback,
                feedback_id="f",
                rule_for=lambda _: RewardRule(),
                now=NOW,
            )
        )
    assert (stored.input_tokens, stored.output_tokens) == (1200, 340)
