"""Undo in-process, on SQLite and PostgreSQL: versions, rollback, void, ordered rebuilds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy import select

from api.app import Services, open_services
from api.service.live_learner import build_learner, catch_up
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.errors import ConflictError, NotFoundError
from bandit.reward import RewardRule, SourceRule
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Pmf
from domain import FeedbackInput, ModelSpec, PolicyConfig, PolicyRecord
from features import arm_for_model, extract_context
from storage import _sql
from tests.clock import FakeClock

MODELS = (
    ModelSpec("small", 0.1, 0.4, features={"tier": "small"}),
    ModelSpec("medium", 1.0, 3.0, features={"tier": "medium"}),
    ModelSpec("large", 5.0, 15.0, features={"tier": "large"}),
)
BEST = {"easy": "small", "normal": "medium", "hard": "large"}
CONFIG = PolicyConfig(models=tuple(m.id for m in MODELS))


def _settings(database_url: str, **overrides: object) -> Settings:
    settings = Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        # Snapshots only when a test forces one: the loop also wakes on feedback.
        snapshot_every=1_000_000,
        snapshot_seconds=1e9,
        bootstrap=False,
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(database_url: str, clock: FakeClock) -> AsyncIterator[Services]:
    async with open_services(_settings(database_url), clock) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        yield opened


async def _drive(services: Services, cycles: int, seed: int, policy: str = "p") -> list[str]:
    """Route and score ``cycles`` requests; return the feedback ids."""
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(cycles):
        difficulty = str(rng.choice(list(BEST)))
        decision = await services.router.route(
            RouteRequest(policy=policy, prompt=f"question {i % 7}", features={"level": difficulty})
        )
        good = decision.chosen_model == BEST[difficulty]
        score = float(np.clip(rng.normal(0.8 if good else 0.4, 0.1), 0, 1))
        stored = await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source="judge", score=score, cost_usd=0.001)
        )
        ids.append(stored.id)
    return ids


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
        (extract_context(f"question {i}", {"level": level}, word_key=b"k" * 16), arms)
        for i in range(3)
        for level in BEST
    ]


def _pmfs(services: Services, policy: str = "p") -> list[Pmf]:
    live = services.learners.learner(policy)
    return [live.learner.policy.predict(c, a) for c, a in _probe()]  # type: ignore[arg-type]


async def _rebuilt_pmfs(services: Services, record: PolicyRecord) -> tuple[int, list[Pmf]]:
    """A fresh learner from the log alone (no snapshot), as a restart without one builds it."""
    rebuilt = build_learner(record, None)
    await catch_up(services.engine, rebuilt)
    pmfs = [rebuilt.learner.policy.predict(c, a) for c, a in _probe()]  # type: ignore[arg-type]
    rebuilt.learner.close()
    return rebuilt.learner.learned, pmfs


async def test_rollback_is_for_good_across_rebuild_restart_and_new_revision(
    database_url: str, clock: FakeClock
) -> None:
    settings = _settings(database_url)
    async with open_services(settings, clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        record = await services.admin.put_policy("p", CONFIG)
        await _drive(services, 150, seed=1)
        await services.learning.step(force_snapshot=True)
        target = (await services.undo.versions("p"))[0]
        assert target.learned_count == 150
        at_target = _pmfs(services)
        await _drive(services, 120, seed=2)
        await services.learning.step()
        before = services.learners.learner("p").version
        assert _pmfs(services) != at_target

        live = await services.undo.rollback("p", target.version)
        assert live.version > before
        assert live.learner.learned == 150
        assert _pmfs(services) == at_target
        async with services.engine.connect() as connection:
            excluded = (
                await connection.execute(
                    select(_sql.rewards.c.seq).where(_sql.rewards.c.excluded.is_not(None))
                )
            ).all()
        assert len(excluded) == 120

        # New interactions are learned; the excluded ones never again.
        await _drive(services, 40, seed=3)
        await services.learning.step()
        assert services.learners.learner("p").learner.learned == 190
        learned, rebuilt = await _rebuilt_pmfs(services, record)
        assert learned == 190
        assert rebuilt == _pmfs(services)
        live_pmfs = _pmfs(services)
        last_version = services.learners.learner("p").version

    async with open_services(settings, clock) as services:
        live = services.learners.learner("p")
        assert live.learner.learned == 190
        assert live.version == last_version  # the same state keeps its version
        assert _pmfs(services) == live_pmfs
        # A new revision relearns the log without the excluded interactions.
        await services.admin.put_policy("p", CONFIG)
        assert services.learners.learner("p").learner.learned == 190
        assert services.learners.learner("p").version > last_version
        assert _pmfs(services) == live_pmfs


async def test_rollback_refuses_unknown_versions_and_other_revisions(services: Services) -> None:
    await services.admin.put_policy("p", CONFIG)
    await _drive(services, 120, seed=4)
    await services.learning.step(force_snapshot=True)
    old = (await services.undo.versions("p"))[0]
    with pytest.raises(NotFoundError, match="no stored version 999999"):
        await services.undo.rollback("p", 999_999)
    with pytest.raises(NotFoundError, match="'nope'"):
        await services.undo.rollback("nope", old.version)
    await services.admin.put_policy(
        "p", dataclasses.replace(CONFIG, exploration=ExplorationSettings(algorithm="epsilon"))
    )
    with pytest.raises(ConflictError, match="revision"):
        await services.undo.rollback("p", old.version)


async def test_void_rejoins_without_the_feedback_and_rebuilds_exactly(
    services: Services, clock: FakeClock
) -> None:
    rule = RewardRule(
        wait_seconds=60,
        sources={"judge": SourceRule(weight=1.0), "reviewer": SourceRule(weight=1.0)},
    )
    record = await services.admin.put_policy("p", dataclasses.replace(CONFIG, reward=rule))
    await _drive(services, 150, seed=5)
    # A broken judge: one decision gets a second, absurd score from another source.
    decision = await services.router.route(RouteRequest(policy="p", prompt="question 1"))
    good = await services.router.feedback(
        FeedbackInput(decision_id=decision.id, source="reviewer", score=0.2)
    )
    bad = await services.router.feedback(
        FeedbackInput(decision_id=decision.id, source="judge", score=1.0)
    )
    lonely = await services.router.route(RouteRequest(policy="p", prompt="question 2"))
    only = await services.router.feedback(
        FeedbackInput(decision_id=lonely.id, source="judge", score=0.9)
    )
    clock.now += 61
    await services.learning.step()
    joined = await services.router.decision(decision.id)
    assert joined.reward is not None
    assert joined.reward.reward == pytest.approx(0.6)
    assert services.learners.learner("p").learner.learned == 152
    version = services.learners.learner("p").version

    result = await services.undo.void(bad.id, "the judge was broken")
    assert result.rebuilt
    assert result.version > version
    rejoined = await services.router.decision(decision.id)
    assert rejoined.reward is not None
    assert rejoined.reward.reward == pytest.approx(0.2)
    voided = next(f for f in rejoined.feedback if f.id == bad.id)
    assert voided.void_reason == "the judge was broken"
    assert voided.voided_at == clock.now
    assert next(f for f in rejoined.feedback if f.id == good.id).void_reason is None

    again = await services.undo.void(bad.id, "twice")
    assert not again.rebuilt
    assert again.version == result.version
    assert again.outcome.feedback.void_reason == "the judge was broken"

    # Voiding a decision's only feedback leaves it without a reward: it is not learned.
    emptied = await services.undo.void(only.id, "spam")
    assert emptied.rebuilt
    assert emptied.version > result.version
    emptied_decision = await services.router.decision(lonely.id)
    assert emptied_decision.join_status == "skipped"
    assert emptied_decision.reward is None
    assert services.learners.learner("p").learner.learned == 151

    learned, rebuilt = await _rebuilt_pmfs(services, record)
    assert learned == 151
    assert rebuilt == _pmfs(services)
    with pytest.raises(NotFoundError, match="'missing'"):
        await services.undo.void("missing", "x")


async def test_versions_never_repeat_across_put_rollback_void_and_restart(
    database_url: str, clock: FakeClock
) -> None:
    settings = _settings(database_url)
    seen: list[int] = []
    async with open_services(settings, clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        await services.admin.put_policy("p", CONFIG)
        seen.append(services.learners.learner("p").version)
        feedback = await _drive(services, 110, seed=6)
        await services.learning.step()
        seen.append(services.learners.learner("p").version)
        first = (await services.undo.versions("p"))[-1]  # the empty start
        assert first.learned_count == 0
        await services.undo.rollback("p", first.version)
        seen.append(services.learners.learner("p").version)
        more = await _drive(services, 30, seed=7)
        await services.learning.step()
        seen.append(services.learners.learner("p").version)
        await services.undo.void(more[0], "test")
        seen.append(services.learners.learner("p").version)
        await services.undo.void(feedback[0], "excluded already: nothing changes")
        seen.append(services.learners.learner("p").version)
        await services.admin.put_policy("p", CONFIG)
        seen.append(services.learners.learner("p").version)
        decision = await services.router.route(RouteRequest(policy="p"))
        assert decision.policy_version == seen[-1]
    async with open_services(settings, clock) as services:
        seen.append(services.learners.learner("p").version)
        await _drive(services, 5, seed=8)
        await services.learning.step()
        seen.append(services.learners.learner("p").version)
        listed = [v.version for v in await services.undo.versions("p")]
    # Strictly increasing, except that a void which changes nothing and a restart keep theirs.
    assert seen[5] == seen[4]
    assert seen[7] == seen[6]
    changes = [seen[i] for i in (0, 1, 2, 3, 4, 6, 8)]
    assert changes == sorted(changes)
    assert len(set(changes)) == len(changes)
    assert listed == sorted(listed, reverse=True)
    assert len(set(listed)) == len(listed)


async def test_overlapping_puts_end_on_the_newest_revision(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await services.admin.put_policy("p", CONFIG)
    await _drive(services, 50, seed=9)
    await services.learning.step()
    host = services.learners
    original = host._build

    async def slow_for_the_first(record: PolicyRecord) -> object:
        built = await original(record)
        if record.revision == 2:
            await asyncio.sleep(0.5)  # the earlier PUT's relearn finishes last
        return built

    monkeypatch.setattr(host, "_build", slow_for_the_first)
    epsilon = dataclasses.replace(CONFIG, exploration=ExplorationSettings(algorithm="epsilon"))
    older, newer = await asyncio.gather(
        services.admin.put_policy("p", CONFIG), services.admin.put_policy("p", epsilon)
    )
    assert (older.revision, newer.revision) == (2, 3)
    assert host.learner("p").revision == 3
    assert services.catalog.policy("p").revision == 3
    assert services.catalog.policy("p").config.exploration.algorithm == "epsilon"
    assert host.learner("p").learner.learned == 50


async def test_routing_answers_while_a_child_process_relearns(
    database_url: str, clock: FakeClock
) -> None:
    async with open_services(_settings(database_url, relearn_in_process_max=0), clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        record = await services.admin.put_policy("p", CONFIG)
        await _drive(services, 60, seed=10)
        await services.learning.step()
        builds = services.learners.child_builds
        put = asyncio.create_task(services.admin.put_policy("p", CONFIG))
        routed = 0
        while not put.done() and routed < 1000:
            await services.router.route(RouteRequest(policy="p", prompt=f"meanwhile {routed}"))
            routed += 1
            await asyncio.sleep(0.005)
        new = await put
        # Spawning and relearning in a child takes far longer than one route.
        assert routed > 3
        assert services.learners.child_builds == builds + 1
        live = services.learners.learner("p")
        assert live.revision == new.revision == record.revision + 1
        assert live.learner.learned == 60
        learned, rebuilt = await _rebuilt_pmfs(services, new)
        assert (learned, rebuilt) == (60, _pmfs(services))


async def test_two_first_puts_of_a_new_policy_end_on_the_second(services: Services) -> None:
    epsilon = dataclasses.replace(CONFIG, exploration=ExplorationSettings(algorithm="epsilon"))
    first, second = await asyncio.gather(
        services.admin.put_policy("q", CONFIG), services.admin.put_policy("q", epsilon)
    )
    assert (first.revision, second.revision) == (1, 2)
    assert services.learners.learner("q").revision == 2
    assert services.catalog.policy("q").config.exploration.algorithm == "epsilon"
