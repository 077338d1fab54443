"""The judge at work (``api.service.judging``): a grade becomes feedback with source ``judge``
whose cost is kept apart, a failed or unreadable judge gives no signal, a full queue sheds,
the hourly cap stops grading, and only sampled decisions are offered. On both backends, with
a fake grader in place of the provider layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.app import Services, open_services
from api.service.judging import Grade, JudgeLedger, JudgeService
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.judge import JUDGE_SOURCE, JudgeSettings
from bandit.reward import PROXY_SOURCE
from domain import DecisionRecord, FeedbackInput, ModelEndpoint, ModelSpec, PolicyConfig
from tests.clock import FakeClock

# Never called: a fake grader stands in for the provider layer.
ENDPOINT = ModelEndpoint("openai", "https://judge.example/v1", "fake")
MODELS = (
    ModelSpec("small", 0.1, 0.4, endpoint=ENDPOINT),
    ModelSpec("large", 5.0, 15.0, endpoint=ENDPOINT),
    ModelSpec("grader", 5.0, 15.0, endpoint=ENDPOINT),
)


class FakeGrader:
    def __init__(self, grade: Grade | None = None, *, fails: bool = False) -> None:
        self.grade_ = grade or Grade(0.8, 0.002)
        self.fails = fails
        self.asked: list[tuple[str, str]] = []

    async def grade(self, judge: JudgeSettings, conversation: str, answer: str) -> Grade:
        self.asked.append((conversation, answer))
        if self.fails:
            raise RuntimeError("the judge's provider is down")
        return self.grade_


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = Settings(database_url=database_url, learn_interval_seconds=3600, bootstrap=False)
    async with open_services(settings, FakeClock()) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        yield opened


def _judge_service(
    services: Services, grader: FakeGrader, *, queue_size: int = 100
) -> tuple[JudgeService, JudgeLedger]:
    clock = FakeClock()
    ledger = JudgeLedger(services.engine, clock, queue_size=queue_size)
    judging = JudgeService(
        services.engine, services.catalog, ledger, services.router.feedback, clock, grader=grader
    )
    return judging, ledger


async def _policy(
    services: Services, name: str, *, sample_rate: float = 1.0, max_usd_per_hour: float = 1.0
) -> None:
    judge = JudgeSettings("grader", sample_rate=sample_rate, max_usd_per_hour=max_usd_per_hour)
    config = PolicyConfig(models=("small", "large"), judge=judge)
    await services.admin.put_policy(name, config)


async def _answered(services: Services, policy: str) -> DecisionRecord:
    """A routed decision whose call the proxy reported (cost and latency, no score)."""
    decision = await services.router.route(RouteRequest(policy=policy, prompt="2+2?"))
    await services.router.feedback(
        FeedbackInput(decision_id=decision.id, source=PROXY_SOURCE, cost_usd=0.01, latency_ms=120.0)
    )
    return decision


async def _grade_each(judging: JudgeService, decisions: list[DecisionRecord]) -> None:
    """Offer each decision's answer to the running judge, one after the other, and wait
    until it is done with each (an unsampled one is never queued)."""
    judging.start()
    try:
        for decision in decisions:
            judging.offer(decision, "user: 2+2?", "4")
            await asyncio.wait_for(judging.drain(), timeout=10)
    finally:
        await judging.close()


async def test_a_grade_is_feedback_from_the_judge_with_its_cost_kept_apart(
    services: Services,
) -> None:
    await _policy(services, "graded")
    grader = FakeGrader(Grade(0.8, 0.002))
    judging, ledger = _judge_service(services, grader)
    decision = await _answered(services, "graded")
    assert decision.judge_probability == 1.0

    await _grade_each(judging, [decision])

    assert grader.asked == [("user: 2+2?", "4")]
    stored = await services.router.decision(decision.id)
    graded = [f for f in stored.feedback if f.source == JUDGE_SOURCE]
    assert [(f.score, f.cost_usd, f.grading_cost_usd) for f in graded] == [(0.8, None, 0.002)]
    # The reward is the grade less nothing of the judge's cost: the call cost 0.01.
    assert stored.reward is not None
    assert (stored.reward.quality, stored.reward.cost_usd) == (0.8, 0.01)
    assert judging.activity("graded").graded == 1
    assert ledger.spent_last_hour("graded") == pytest.approx(0.002)


@pytest.mark.parametrize(
    "grader",
    [FakeGrader(fails=True), FakeGrader(Grade(None, 0.002))],
    ids=["judge call fails", "reply holds no grade"],
)
async def test_a_judge_that_fails_gives_no_signal(services: Services, grader: FakeGrader) -> None:
    await _policy(services, "failing")
    judging, _ = _judge_service(services, grader)
    decision = await _answered(services, "failing")

    await _grade_each(judging, [decision])

    stored = await services.router.decision(decision.id)
    assert [f.source for f in stored.feedback] == [PROXY_SOURCE]
    assert stored.join_status == "open"
    assert stored.reward is None
    assert judging.activity("failing").failed == 1


async def test_a_full_queue_sheds_and_counts_what_it_dropped(services: Services) -> None:
    await _policy(services, "busy")
    judging, ledger = _judge_service(services, FakeGrader(), queue_size=2)
    decisions = [await _answered(services, "busy") for _ in range(3)]

    for decision in decisions:  # no worker runs: the queue only fills
        judging.offer(decision, "user: 2+2?", "4")

    assert judging.activity("busy").shed == 1
    # A judge whose queue is full takes no more decisions into its sample.
    judge = JudgeSettings("grader", sample_rate=1.0)
    assert not ledger.is_open("busy", judge)


async def test_the_hourly_cap_stops_grading_and_sampling(services: Services) -> None:
    await _policy(services, "capped", max_usd_per_hour=0.003)
    grader = FakeGrader(Grade(0.8, 0.002))
    judging, ledger = _judge_service(services, grader)
    decisions = [await _answered(services, "capped") for _ in range(3)]

    await _grade_each(judging, decisions)

    # 0.002, then 0.004 >= 0.003: the third is not graded.
    assert len(grader.asked) == 2
    assert judging.activity("capped").over_cap == 1
    assert not ledger.is_open("capped", JudgeSettings("grader", max_usd_per_hour=0.003))


async def test_a_decision_outside_the_sample_is_not_offered(services: Services) -> None:
    await _policy(services, "unsampled", sample_rate=0.0)
    grader = FakeGrader()
    judging, _ = _judge_service(services, grader)
    decision = await _answered(services, "unsampled")
    assert decision.judge_probability is None

    await _grade_each(judging, [decision])

    assert grader.asked == []
