"""The ModelHealth service: errors reported as feedback cool a model per policy, time
re-admits it, and every process reading the database agrees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from api.app import Services, open_services
from api.service.model_health import ModelHealth
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.health import MIN_LATENCY_SAMPLES, HealthSettings
from domain import FeedbackInput, ModelSpec, PolicyConfig
from tests.clock import FakeClock

MODELS = (ModelSpec("fast", 0.1, 0.4), ModelSpec("slow", 1.0, 3.0))
HEALTH = HealthSettings(window_seconds=60.0, min_calls=3, max_error_rate=0.5, cooldown_seconds=30.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(database_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    # Loops that would run on their own are slowed to a crawl: the test refreshes by hand.
    settings = Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        model_health_seconds=3600,
        bootstrap=False,
        admin_key="test admin key",
    )
    async with open_services(settings, clock) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        models = tuple(m.id for m in MODELS)
        await opened.admin.put_policy("p", PolicyConfig(models=models, health=HEALTH))
        # Health off: the same failures never cool a model of this policy.
        off = HealthSettings(max_error_rate=1.0)
        await opened.admin.put_policy("q", PolicyConfig(models=models, health=off))
        yield opened


async def _call(services: Services, model: str, *, error: str | None = None) -> None:
    decision = await services.router.route(RouteRequest(policy="p", candidates=(model,)))
    await services.router.feedback(
        FeedbackInput(
            decision_id=decision.id,
            source="app",
            latency_ms=None if error else 250.0,
            error=error,
        )
    )


async def test_errors_cool_a_model_until_the_cooldown_ends(
    services: Services, clock: FakeClock
) -> None:
    health = services.model_health
    await _call(services, "fast")
    await _call(services, "fast", error="503 service unavailable")
    await _call(services, "fast", error="429 rate limited")
    await _call(services, "slow", error="429 rate limited")  # one error among no calls
    await health.refresh()

    fast = health.observations("p")["fast"]
    assert fast.cooling_at(clock())
    assert fast.cooldown_until == clock.now + 30.0
    assert fast.cooldown_reason == (
        "fast is cooling down until 22:13:50 UTC: 2 of 3 calls in the last 60 s failed "
        "(last: '429 rate limited')."
    )
    assert "slow" not in health.observations("p")
    assert [c.model for c in health.cooldowns("p")] == ["fast"]
    assert health.cooldowns("q") == []
    assert "fast" not in health.observations("q")

    # Another process reading the same database reaches the same verdict.
    other = ModelHealth(services.engine, services.catalog, clock)
    await other.refresh()
    assert other.observations("p")["fast"] == fast

    # The cooldown ends by the clock, before any refresh, and the refresh agrees: the
    # failures that cooled the model no longer count.
    clock.now += 29.9
    assert health.observations("p")["fast"].cooling_at(clock())
    clock.now += 0.1
    assert "fast" not in health.observations("p")
    assert health.cooldowns("p") == []
    await health.refresh()
    assert "fast" not in health.observations("p")

    # Failing again over a fresh window cools it again.
    clock.now += 5.0
    for _ in range(3):
        await _call(services, "fast", error="timeout")
    await health.refresh()
    again = health.observations("p")["fast"]
    assert again.cooling_at(clock())
    assert again.cooldown_reason is not None
    assert "3 of 3 calls since it was re-admitted at 22:13:50 UTC failed" in again.cooldown_reason


async def test_observed_latency_and_output_length(services: Services, clock: FakeClock) -> None:
    health = services.model_health
    for index in range(MIN_LATENCY_SAMPLES):
        decision = await services.router.route(RouteRequest(policy="p", candidates=("slow",)))
        await services.router.feedback(
            FeedbackInput(
                decision_id=decision.id,
                source="app",
                latency_ms=100.0 * (index + 1),
                output_tokens=300 + index,
                input_tokens=1000,
            )
        )
    await health.refresh()
    slow = health.observations("p")["slow"]
    assert slow.p95_latency_ms == 1900.0
    assert slow.mean_output_tokens == 309.5
    assert slow.cooldown_until is None
    assert health.observations("q")["slow"] == slow  # a model's usage is the model's
    assert health.observations("no such policy") == {}


async def test_a_failed_refresh_is_a_problem_and_keeps_the_cooldowns(clock: FakeClock) -> None:
    from api.service.catalog import Catalog
    from domain import PolicyRecord
    from storage.engine import create_engine

    # Nothing listens on port 1: every refresh fails at once.
    engine = create_engine("postgresql://postgres@127.0.0.1:1/none")
    catalog = Catalog(policies={"p": PolicyRecord("p", 1, PolicyConfig(models=("fast",)), 0, 0)})
    health = ModelHealth(engine, catalog, clock, seconds=0.01)
    health.start()
    try:
        for _ in range(500):
            if health.last_error is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        await health.close()
        await engine.dispose()
    assert health.last_error is not None
    assert health.last_error.startswith("Refreshing model health failed (")
    assert health.observations("p") == {}


async def test_a_policy_sees_only_the_models_it_may_route_to(
    services: Services, clock: FakeClock
) -> None:
    await services.admin.put_policy("r", PolicyConfig(models=("slow",), health=HEALTH))
    for _ in range(3):
        await _call(services, "fast", error="503")
    await services.model_health.refresh()
    assert [c.model for c in services.model_health.cooldowns("p")] == ["fast"]
    assert services.model_health.cooldowns("r") == []
    assert "fast" not in services.model_health.observations("r")
