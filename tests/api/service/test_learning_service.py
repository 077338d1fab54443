"""The learning loop in-process (no HTTP), on SQLite and PostgreSQL, with a pinned clock."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from api.app import Services, open_services
from api.service.live_learner import build_learner, catch_up
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.budget import Budget, BudgetedPolicy, ControllerSettings, split_snapshot
from bandit.errors import ConflictError
from bandit.reward import RewardRule, SourceRule
from bandit.settings import ExplorationSettings
from bandit.types import Arm
from domain import FeedbackInput, ModelSpec, PolicyConfig
from features import arm_for_model, extract_context
from tests.clock import FakeClock

_KEY = b"test installation key"

MODELS = (
    ModelSpec("small", 0.1, 0.4, features={"tier": "small"}),
    ModelSpec("medium", 1.0, 3.0, features={"tier": "medium"}),
    ModelSpec("large", 5.0, 15.0, features={"tier": "large"}),
)
BEST = {"easy": "small", "normal": "medium", "hard": "large"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(database_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        snapshot_every=100,
        bootstrap=False,
    )
    async with open_services(settings, clock) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        yield opened


async def _drive(services: Services, cycles: int, seed: int, policy: str = "p") -> None:
    rng = np.random.default_rng(seed)
    for i in range(cycles):
        difficulty = str(rng.choice(list(BEST)))
        decision = await services.router.route(
            RouteRequest(policy=policy, prompt=f"question {i % 7}", features={"level": difficulty})
        )
        good = decision.chosen_model == BEST[difficulty]
        score = float(np.clip(rng.normal(0.8 if good else 0.4, 0.1), 0, 1))
        await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source="judge", score=score, cost_usd=0.001)
        )


def _probe() -> list[tuple[object, tuple[Arm, ...]]]:
    arms = tuple(
        arm_for_model(
            m.id,
            input_usd_per_mtok=m.input_usd_per_mtok,
            output_usd_per_mtok=m.output_usd_per_mtok,
            declared=m.features,
        )
        for m in MODELS
    )
    return [
        (extract_context(f"question {i}", {"level": level}, word_key=_KEY), arms)
        for i in range(3)
        for level in BEST
    ]


async def test_rebuild_from_the_log_gives_identical_pmfs(services: Services) -> None:
    record = await services.admin.put_policy("p", PolicyConfig(models=tuple(m.id for m in MODELS)))
    await _drive(services, 400, seed=1)
    await services.learning.step()
    live = services.learners.learner("p")
    assert live.learner.learned == 400

    rebuilt = build_learner(record, None)
    assert await catch_up(services.engine, rebuilt) == 400
    for context, arms in _probe():
        live_pmf = live.learner.policy.predict(context, arms)  # type: ignore[arg-type]
        assert rebuilt.learner.policy.predict(context, arms) == live_pmf  # type: ignore[arg-type]
    # The learner is not trivially uniform: it learned which model fits which level.
    context, arms = _probe()[2]
    pmf = live.learner.policy.predict(context, arms)  # type: ignore[arg-type]
    assert max(pmf) > 0.5


async def test_a_budgeted_policy_rebuilds_from_the_log_to_the_same_controller(
    services: Services,
) -> None:
    # Every call costs 0.001 USD (see _drive), twice the budget: the controller climbs.
    config = PolicyConfig(models=tuple(m.id for m in MODELS), budget=Budget(usd_per_request=0.0005))
    record = await services.admin.put_policy("b", config)
    assert record.config.budget_usd == 0.0005
    await _drive(services, 300, seed=2, policy="b")
    await services.learning.step()
    live = services.learners.learner("b")
    assert live.learner.learned == 300
    policy = live.learner.policy
    assert isinstance(policy, BudgetedPolicy)
    assert policy.status().observed == 300
    assert policy.status().cost_weight > ControllerSettings().initial_multiplier / 0.0005

    rebuilt = build_learner(record, None)
    assert await catch_up(services.engine, rebuilt) == 300
    # The controller, cost model and recent requests are the same. The VW bytes are not
    # compared (the live learner also routed, and VW's saved state counts examples); the
    # pmfs below are.
    state = split_snapshot(rebuilt.learner.snapshot())[0]
    assert state == split_snapshot(live.learner.snapshot())[0]
    for context, arms in _probe():
        live_pmf = policy.predict(context, arms)  # type: ignore[arg-type]
        assert rebuilt.learner.policy.predict(context, arms) == live_pmf  # type: ignore[arg-type]


async def test_restart_resumes_from_snapshot_with_identical_pmfs(
    database_url: str, clock: FakeClock
) -> None:
    settings = Settings(
        database_url=database_url, learn_interval_seconds=3600, snapshot_every=100, bootstrap=False
    )
    async with open_services(settings, clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        await services.admin.put_policy("p", PolicyConfig(models=tuple(m.id for m in MODELS)))
        await _drive(services, 250, seed=2)
        await services.learning.step()
        before = [
            services.learners.learner("p").learner.policy.predict(c, a)  # type: ignore[arg-type]
            for c, a in _probe()
        ]
    async with open_services(settings, clock) as services:
        live = services.learners.learner("p")
        # Shutdown wrote a final snapshot including everything: nothing to catch up.
        assert live.snapshot_learned == 250
        assert live.learner.learned == 250
        after = [live.learner.policy.predict(c, a) for c, a in _probe()]  # type: ignore[arg-type]
    assert after == before


async def test_reward_window_aggregates_and_flags_late_feedback(
    services: Services, clock: FakeClock
) -> None:
    rule = RewardRule(
        wait_seconds=60,
        cost_weight=10.0,
        sources={
            "reviewer": SourceRule(weight=3.0, aggregation="latest"),
            "user": SourceRule(weight=1.0, aggregation="mean"),
        },
    )
    await services.admin.put_policy("p", PolicyConfig(models=("small", "large"), reward=rule))
    decision = await services.router.route(RouteRequest(policy="p", prompt="hi"))

    async def send(source: str, score: float | None, cost: float | None = None) -> bool:
        stored = await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source=source, score=score, cost_usd=cost)
        )
        return stored.late

    assert not await send("reviewer", 0.2, cost=0.01)
    clock.now += 10
    assert not await send("reviewer", 0.6)
    assert not await send("user", 1.0)
    assert not await send("user", 0.0)
    await services.learning.step()
    assert (await services.router.decision(decision.id)).join_status == "open"

    clock.now += 51  # the 60 s window has closed
    assert await send("reviewer", 0.0)  # late: stored, flagged, never learned
    await services.learning.step()
    stored = await services.router.decision(decision.id)
    assert stored.join_status == "joined"
    assert stored.reward is not None
    # (3 * 0.6 + 1 * 0.5) / 4 - 10 * 0.01
    assert stored.reward.reward == pytest.approx(0.475)
    assert [f.late for f in stored.feedback] == [False, False, False, False, True]
    assert services.learners.learner("p").learner.learned == 1


async def test_default_reward_and_skipping_without_scores(
    services: Services, clock: FakeClock
) -> None:
    with_default = PolicyConfig(
        models=("small", "large"),
        reward=RewardRule(wait_seconds=5, default_reward=0.25, cost_weight=2.0),
    )
    await services.admin.put_policy("with-default", with_default)
    await services.admin.put_policy(
        "skip", dataclasses.replace(with_default, reward=RewardRule(wait_seconds=5))
    )
    first = await services.router.route(RouteRequest(policy="with-default"))
    second = await services.router.route(RouteRequest(policy="skip"))
    for decision in (first, second):
        await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source="app", cost_usd=0.05)
        )
    clock.now += 6
    await services.learning.step()
    joined = await services.router.decision(first.id)
    assert joined.reward is not None
    assert joined.reward.reward == pytest.approx(0.25 - 2.0 * 0.05)
    skipped = await services.router.decision(second.id)
    assert skipped.join_status == "skipped"
    assert skipped.reward is None
    assert services.learners.learner("skip").learner.learned == 0


async def test_idempotent_feedback_and_decision_retries(services: Services) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=("small", "large")))
    request = RouteRequest(policy="p", prompt="same", decision_id="client-1")
    first = await services.router.route(request)
    again = await services.router.route(request)
    assert (again.id, again.chosen_model, again.pmf) == (first.id, first.chosen_model, first.pmf)
    with pytest.raises(ConflictError, match="client-1"):
        await services.router.route(dataclasses.replace(request, prompt="different"))

    feedback = FeedbackInput(decision_id="client-1", source="user", score=0.5, idempotency_key="k1")
    stored = await services.router.feedback(feedback)
    repeated = await services.router.feedback(feedback)
    assert repeated.id == stored.id
    assert (stored.created, repeated.created) == (True, False)
    with pytest.raises(ConflictError, match="k1"):
        await services.router.feedback(dataclasses.replace(feedback, score=0.7))
    assert len((await services.router.decision("client-1")).feedback) == 1


async def test_prompts_are_hashed_unless_the_policy_stores_them(services: Services) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=("small",)))
    await services.admin.put_policy("keep", PolicyConfig(models=("small",), store_prompts=True))
    hashed = await services.router.route(RouteRequest(policy="p", prompt="secret"))
    kept = await services.router.route(RouteRequest(policy="keep", prompt="secret"))
    assert hashed.prompt is None
    assert hashed.prompt_hash is not None
    assert "secret" not in hashed.prompt_hash
    assert kept.prompt == "secret"
    assert kept.prompt_hash == hashed.prompt_hash  # one installation key


async def test_concurrent_routes_share_transactions(services: Services) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=tuple(m.id for m in MODELS)))
    before = services.committer.transactions
    decisions = await asyncio.gather(
        *(services.router.route(RouteRequest(policy="p", prompt=str(i))) for i in range(200))
    )
    assert len({d.id for d in decisions}) == 200
    used = services.committer.transactions - before
    assert used < 100, f"200 concurrent routes took {used} transactions: no group commit"
    for decision in decisions[::40]:
        assert (await services.router.decision(decision.id)).id == decision.id


async def test_new_revision_relearns_the_log_under_the_new_settings(services: Services) -> None:
    config = PolicyConfig(models=tuple(m.id for m in MODELS))
    first = await services.admin.put_policy("p", config)
    await _drive(services, 120, seed=3)
    await services.learning.step()
    version_before = services.learners.learner("p").version
    second = await services.admin.put_policy(
        "p", dataclasses.replace(config, exploration=ExplorationSettings(algorithm="epsilon"))
    )
    assert second.revision == first.revision + 1
    live = services.learners.learner("p")
    assert live.revision == second.revision
    assert live.learner.learned == 120
    assert live.version > version_before


@pytest.mark.parametrize("yields", range(6))
async def test_close_returns_promptly_when_a_wake_up_races_it(
    services: Services, yields: int
) -> None:
    # A wake-up that completes just as close() stops the loop once made Python 3.11's
    # wait_for swallow the cancellation, and close() hung for the whole learning interval.
    services.learning.notify()
    for _ in range(yields):
        await asyncio.sleep(0)
    started = time.monotonic()
    async with asyncio.timeout(10):  # the old close() swallowed this cancellation too
        await services.learning.close()
    assert time.monotonic() - started < 5, "close() waited for the learning interval"
