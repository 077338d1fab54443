"""Retention in-process on SQLite and PostgreSQL, with a fake clock: old rows go, the rows a
rebuild or a running experiment still needs stay, and a restart resumes to identical pmfs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import func, select

from api.app import Services, open_services
from api.service.live_learner import build_learner, catch_up
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.reward import RewardRule
from bandit.types import Arm, Context
from domain import FeedbackInput, ModelSpec, PolicyConfig
from experiments import ExperimentSpec
from features import arm_for_model, extract_context
from storage import _sql
from storage.learning_log import latest_snapshot
from tests.clock import FakeClock
from tests.units import spread_units

DAY = 86_400.0
MODELS = (ModelSpec("small", 0.1, 0.4), ModelSpec("large", 5.0, 15.0))


def _settings(database_url: str) -> Settings:
    # No automatic snapshots: the test decides where the high-water mark is.
    return Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        snapshot_every=10**9,
        snapshot_seconds=1e12,
        bootstrap=False,
    )


async def _drive(
    services: Services,
    policy: str,
    prefix: str,
    n: int,
    seed: int,
    units: Sequence[str] | None = None,
) -> list[str]:
    """``n`` routed and scored decisions; ``units``: their experiment units, in order."""
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        level = int(rng.integers(3))
        decision = await services.router.route(
            RouteRequest(
                policy=policy,
                prompt=f"question {i % 5}",
                features={"level": level},
                unit_id=None if units is None else units[i],
            )
        )
        good = (decision.chosen_model == "large") == (level == 2)
        score = float(np.clip(rng.normal(0.8 if good else 0.3, 0.1), 0, 1))
        await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source=f"{prefix}judge", score=score)
        )
        ids.append(decision.id)
    return ids


async def _count(services: Services, table: str, ids: Sequence[str]) -> int:
    t = {"decisions": _sql.decisions, "feedback": _sql.feedback, "rewards": _sql.rewards}[table]
    column = t.c.id if table == "decisions" else t.c.decision_id
    async with services.engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).where(column.in_(list(ids))))
            ).scalar_one()
        )


def _probe() -> list[tuple[Context, tuple[Arm, ...]]]:
    arms = tuple(
        arm_for_model(
            m.id,
            input_usd_per_mtok=m.input_usd_per_mtok,
            output_usd_per_mtok=m.output_usd_per_mtok,
            declared=m.features,
        )
        for m in MODELS
    )
    key = b"probe"
    return [(extract_context(None, {"level": level}, word_key=key), arms) for level in range(3)]


def _pmfs(services: Services, policy: str) -> list[tuple[float, ...]]:
    live = services.learners.learner(policy)
    return [tuple(live.learner.policy.predict(c, a)) for c, a in _probe()]


async def test_retention_keeps_what_a_rebuild_needs_and_a_restart_resumes_exactly(
    database_url: str,
) -> None:
    clock = FakeClock()
    settings = _settings(database_url)
    async with open_services(settings, clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        config = PolicyConfig(models=tuple(m.id for m in MODELS), retention_days=1)
        await services.admin.put_policy("p", config)
        snapshotted = await _drive(services, "p", "", 150, seed=1)
        unjoined = (await services.router.route(RouteRequest(policy="p", prompt="x"))).id
        await services.learning.step(force_snapshot=True)
        clock.now += 10.0
        after_snapshot = await _drive(services, "p", "", 50, seed=2)
        await services.learning.step()
        assert services.learners.learner("p").learner.learned == 200
        # Two days later: everything above is older than the window.
        clock.now += 2 * DAY
        recent = await _drive(services, "p", "", 20, seed=3)
        await services.learning.step()
        # A round of the retention job (in the background, it runs every minute).
        assert await services.retention.retain() == 151
        before = _pmfs(services, "p")

        old = [*snapshotted, unjoined]
        for table in ("decisions", "feedback", "rewards"):
            assert await _count(services, table, old) == 0, table
        # Older than the window but above the snapshot's high-water mark: kept for a rebuild.
        assert await _count(services, "decisions", after_snapshot) == 50
        assert await _count(services, "rewards", after_snapshot) == 50
        assert await _count(services, "decisions", recent) == 20
        assert await services.retention.retain() == 0

        # A crash now: the newest snapshot plus the retained log is the live learner.
        record = services.catalog.policy("p")
        async with services.engine.connect() as connection:
            snapshot = await latest_snapshot(connection, policy="p", revision=record.revision)
        rebuilt = build_learner(record, snapshot)
        assert await catch_up(services.engine, rebuilt) == 70
        assert [tuple(rebuilt.learner.policy.predict(c, a)) for c, a in _probe()] == before
        assert _pmfs(services, "p") == before

    async with open_services(settings, clock) as services:
        assert services.learners.learner("p").learner.learned == 220
        assert _pmfs(services, "p") == before
        # Shutdown snapshotted everything: now the rows after the old mark may go too.
        assert await services.retention.retain() == 50
        assert await _count(services, "decisions", recent) == 20


async def test_retention_is_off_by_default_and_spares_an_active_experiment(
    database_url: str,
) -> None:
    clock = FakeClock()
    async with open_services(_settings(database_url), clock) as services:
        for model in (*MODELS, ModelSpec("cand", 1.0, 1.0)):
            await services.admin.put_model(model)
        models = tuple(m.id for m in MODELS)
        await services.admin.put_policy("keep", PolicyConfig(models=models))
        await services.admin.put_policy("exp", PolicyConfig(models=models, retention_days=1))
        kept = await _drive(services, "keep", "", 30, seed=4)
        experiment = await services.experiments.create(ExperimentSpec("exp", "cand"))
        # Units whose split matches the share at every moment: a sample-ratio check made while
        # they arrive (a 1 in 1,000 chance with random units) would pause the experiment, and
        # the decisions after the pause are not the experiment's.
        units = spread_units(experiment.id, share=experiment.share, total=30)
        in_experiment = await _drive(services, "exp", "", 30, seed=5, units=units)
        await services.learning.step(force_snapshot=True)
        clock.now += 3 * DAY

        assert await services.retention.retain() == 0
        assert await _count(services, "decisions", kept) == 30
        assert await _count(services, "decisions", in_experiment) == 30

        await services.experiments.act(experiment.id, "rollback")
        assert await services.retention.retain() == 30
        assert await _count(services, "decisions", in_experiment) == 0


async def test_retention_waits_for_a_timed_window_to_be_joined_and_snapshotted(
    database_url: str,
) -> None:
    clock = FakeClock()
    async with open_services(_settings(database_url), clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        config = PolicyConfig(
            models=tuple(m.id for m in MODELS),
            reward=RewardRule(wait_seconds=5 * DAY),
            retention_days=1,
        )
        await services.admin.put_policy("w", config)
        waiting = await _drive(services, "w", "", 10, seed=6)
        await services.learning.step(force_snapshot=True)
        clock.now += 2 * DAY
        # Older than the window, but their rewards are not joined yet.
        assert await services.retention.retain() == 0
        assert await _count(services, "feedback", waiting) == 10
        clock.now += 4 * DAY
        await services.learning.step()  # joins and learns them; no snapshot yet
        assert services.learners.learner("w").learner.learned == 10
        assert await services.retention.retain() == 0
        await services.learning.step(force_snapshot=True)
        assert await services.retention.retain() == 10
        assert await _count(services, "decisions", waiting) == 0


@pytest.mark.parametrize("days", [0, 3651, True])
def test_retention_days_is_bounded(days: int) -> None:
    with pytest.raises(ValueError, match=f"retention_days must be null .* got {days!r}"):
        PolicyConfig(models=("a",), retention_days=days)
