"""Langfuse traces out and scores in, in-process against the fake server and the real SDK."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from api.app import Services, open_services
from api.integrations.langfuse_export import trace_id_for
from api.integrations.langfuse_link import open_client
from api.integrations.langfuse_scores import ScorePoller
from api.service.router import RouteRequest
from api.settings import LangfuseSettings, Settings
from bandit.reward import RewardRule
from domain import FeedbackInput, ModelSpec, PolicyConfig
from storage import _sql
from tests.clock import FakeClock
from tests.langfuse_fake import FakeLangfuse, fake_langfuse

MODELS = (ModelSpec("small", 0.1, 0.4), ModelSpec("large", 5.0, 15.0))
#: A reward window of 0: the first score joins and is learned.
CONFIG = PolicyConfig(models=("small", "large"), reward=RewardRule(wait_seconds=0))


@pytest.fixture
def fake() -> Iterator[FakeLangfuse]:
    with fake_langfuse() as served:
        yield served


def _langfuse(fake: FakeLangfuse, **overrides: object) -> LangfuseSettings:
    settings = LangfuseSettings(
        # The SDK keeps one client per public key for the whole process: one key per test.
        public_key=f"pk-{uuid.uuid4().hex}",
        secret_key="sk-test",
        host=fake.url,
        timeout_seconds=1,
        poll_seconds=0,  # the tests poll by hand
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


def _settings(database_url: str, langfuse: LangfuseSettings | None) -> Settings:
    return Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        snapshot_every=1_000_000,
        snapshot_seconds=1e9,
        bootstrap=False,
        heavy_jobs_in_processes=False,
        langfuse=langfuse,
    )


async def _catalog(services: Services) -> None:
    for model in MODELS:
        await services.admin.put_model(model)
    await services.admin.put_policy("p", CONFIG)
    await services.admin.put_policy("kept", dataclasses.replace(CONFIG, store_prompts=True))


@pytest.fixture
async def services(database_url: str, fake: FakeLangfuse) -> AsyncIterator[Services]:
    async with open_services(_settings(database_url, _langfuse(fake))) as opened:
        await _catalog(opened)
        yield opened


async def test_every_decision_is_a_trace_named_by_its_id_and_feedback_its_scores(
    database_url: str, fake: FakeLangfuse
) -> None:
    async with open_services(_settings(database_url, _langfuse(fake))) as services:
        await _catalog(services)
        plain = await services.router.route(
            RouteRequest(policy="p", prompt="secret question", features={"tier": "gold"})
        )
        kept = await services.router.route(RouteRequest(policy="kept", prompt="kept question"))
        await services.router.feedback(
            FeedbackInput(
                decision_id=plain.id, source="reviewer", score=0.8, cost_usd=0.002, latency_ms=900
            )
        )
    # Leaving ``open_services`` flushed the export.
    assert plain.trace_id == trace_id_for(plain.id)
    assert kept.trace_id == trace_id_for(kept.id)
    traces = fake.traces()
    [span] = traces[plain.trace_id]
    attributes = span.attributes
    assert attributes["langfuse.trace.metadata.decision_id"] == plain.id
    assert attributes["langfuse.trace.metadata.policy"] == "p"
    assert attributes["langfuse.trace.metadata.model"] == plain.chosen_model
    assert float(attributes["langfuse.trace.metadata.propensity"]) == plain.propensity
    assert attributes["langfuse.trace.metadata.policy_version"] == plain.policy_version
    assert '"gold"' in attributes["langfuse.trace.metadata.features"]
    assert '"small"' in attributes["langfuse.trace.metadata.pmf"]
    # The prompt leaves the router only for a policy that stores prompts.
    assert "secret question" not in repr(traces)
    [kept_span] = traces[kept.trace_id]
    assert "kept question" in kept_span.attributes["langfuse.trace.input"]
    scores = {s["name"]: s for s in fake.sent_scores}
    assert set(scores) == {"reviewer", "cost_usd", "latency_ms"}
    assert scores["reviewer"]["traceId"] == plain.trace_id
    assert scores["reviewer"]["value"] == 0.8
    assert scores["reviewer"]["metadata"]["cost_usd"] == 0.002
    assert scores["cost_usd"]["value"] == 0.002
    assert scores["latency_ms"]["value"] == 900


async def test_without_langfuse_there_is_no_trace(database_url: str) -> None:
    async with open_services(_settings(database_url, None)) as services:
        await _catalog(services)
        decision = await services.router.route(RouteRequest(policy="p"))
        assert services.langfuse is None
    assert decision.trace_id is None


def _poller(services: Services, settings: LangfuseSettings) -> ScorePoller:
    return ScorePoller(
        open_client(settings),
        services.engine,
        services.committer,
        services.router,
        time.time,
        settings=settings,
    )


async def test_scores_made_in_langfuse_become_feedback_and_are_learned_once(
    database_url: str, fake: FakeLangfuse
) -> None:
    langfuse = _langfuse(fake)
    settings = _settings(database_url, langfuse)
    async with open_services(settings) as services:
        await _catalog(services)
        first = await services.router.route(RouteRequest(policy="p"))
        second = await services.router.route(RouteRequest(policy="p"))
        third = await services.router.route(RouteRequest(policy="p"))
        assert first.trace_id is not None
        assert second.trace_id is not None
        assert third.trace_id is not None
        fake.add_config(config_id="c-stars", name="stars", min_value=1.0, max_value=5.0)
        fake.add_score(
            score_id="s-1", trace_id=first.trace_id, name="stars", value=4.0, config_id="c-stars"
        )
        fake.add_score(
            score_id="s-2", trace_id=second.trace_id, name="ok", value=0.6, source="EVAL"
        )
        fake.add_score(score_id="s-3", trace_id=third.trace_id, name="helpful", value=True)
        # Left out: no config and outside [0, 1]; a trace the router did not name; the
        # router's own score; a source with no mapping.
        fake.add_score(score_id="x-1", trace_id=third.trace_id, name="raw", value=3.0)
        fake.add_score(score_id="x-2", trace_id="f" * 32, name="stars", value=0.5)
        fake.add_score(
            score_id="x-3",
            trace_id=first.trace_id,
            name="user",
            value=0.1,
            metadata={"bandit_router": "feedback"},
        )
        poller = _poller(
            services,
            dataclasses.replace(langfuse, sources={"ANNOTATION": "reviewer", "EVAL": "judge"}),
        )
        assert await poller.poll() == 3
        assert poller.counts().skipped == 3
        await services.learning.step()
        read = await services.router.decision(first.id)
        [feedback] = read.feedback
        assert (feedback.source, feedback.score, feedback.idempotency_key) == (
            "reviewer",
            0.75,
            "langfuse:s-1",
        )
        assert read.reward is not None
        assert (await services.router.decision(second.id)).feedback[0].source == "judge"
        assert (await services.router.decision(third.id)).feedback[0].score == 1.0
        assert services.learners.learner("p").learner.learned == 3
        # Polling again finds the same scores and records none twice.
        assert await poller.poll() == 0
    # Imported scores are not sent back to Langfuse.
    assert fake.sent_scores == []
    # A restart reads the stored cursor: no score is repeated, a new one is found.
    async with open_services(settings) as services:
        before = len(fake.requests)
        fake.add_score(
            score_id="s-4", trace_id=second.trace_id, name="stars", value=1.0, config_id="c-stars"
        )
        poller = _poller(services, langfuse)
        assert await poller.poll() == 1
        async with services.engine.connect() as connection:
            keys = (
                (await connection.execute(select(_sql.feedback.c.idempotency_key))).scalars().all()
            )
        assert sorted(keys) == ["langfuse:s-1", "langfuse:s-2", "langfuse:s-3", "langfuse:s-4"]
        # The poll after the restart asked from the stored cursor (less the lookback).
        [asked] = [q for _, path, q in fake.requests[before:] if path.endswith("/v2/scores")]
        assert "fromTimestamp" in asked


@pytest.mark.parametrize("outage", ["error", "hang"])
async def test_a_langfuse_outage_keeps_routing_and_loses_no_router_data(
    database_url: str, fake: FakeLangfuse, outage: str
) -> None:
    fake.mode = outage  # type: ignore[assignment]
    # A hung Langfuse answers nothing for the SDK's whole timeout: 5 s here, so a request
    # that waited for it would take that long, far above any scheduling delay of a busy
    # machine (a route took 0.86 s once while the other test worker ran a load test).
    langfuse = _langfuse(fake, queue_size=4, timeout_seconds=5)
    async with open_services(_settings(database_url, langfuse)) as services:
        await _catalog(services)
        slowest = 0.0
        ids = []
        for _ in range(60):
            started = time.perf_counter()
            decision = await services.router.route(RouteRequest(policy="p"))
            await services.router.feedback(
                FeedbackInput(decision_id=decision.id, source="user", score=0.5)
            )
            slowest = max(slowest, time.perf_counter() - started)
            ids.append(decision.id)
        assert services.langfuse is not None
        counts = services.langfuse.exporter.counts()
        assert counts.dropped > 0
        # No request waited for Langfuse (its timeout is five seconds).
        assert slowest < 2.5
        poller = _poller(services, langfuse)
        with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the SDK raises
            await poller.poll()
        async with services.engine.connect() as connection:
            stored = (await connection.execute(select(_sql.decisions.c.id))).scalars().all()
            feedback = (await connection.execute(select(_sql.feedback.c.id))).scalars().all()
        assert sorted(stored) == sorted(ids)
        assert len(feedback) == 60
        fake.released.set()


async def test_a_score_after_the_reward_window_is_stored_late_and_not_learned(
    database_url: str, fake: FakeLangfuse
) -> None:
    clock = FakeClock()
    langfuse = _langfuse(fake)
    async with open_services(_settings(database_url, langfuse), clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        windowed = dataclasses.replace(CONFIG, reward=RewardRule(wait_seconds=60))
        await services.admin.put_policy("p", windowed)
        decision = await services.router.route(RouteRequest(policy="p"))
        assert decision.trace_id is not None
        clock.now += 61
        fake.add_score(score_id="s-late", trace_id=decision.trace_id, name="q", value=0.9)
        assert await _poller(services, langfuse).poll() == 1
        await services.learning.step()
        [feedback] = (await services.router.decision(decision.id)).feedback
        assert feedback.late
        assert services.learners.learner("p").learner.learned == 0
