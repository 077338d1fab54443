"""Migrations build exactly the schema the tables declare, and upgrade existing databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers the tables
from api.app import open_services
from api.settings import Settings
from storage import _sql
from storage.engine import create_engine
from storage.migrate import current_revision, head_revision, upgrade


async def test_migrations_match_the_table_definitions(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
        assert differences == []
        await upgrade(engine)  # running again is a no-op
    finally:
        await engine.dispose()


async def test_serve_brings_an_older_database_up_to_date_and_keeps_its_rows(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0001")
        async with engine.begin() as connection:
            await connection.execute(
                _sql.models.insert().values(
                    id="old-model",
                    provider="",
                    input_usd_per_mtok=1.0,
                    output_usd_per_mtok=2.0,
                    features={},
                    status="active",
                    created_at=1.0,
                    updated_at=1.0,
                )
            )
    finally:
        await engine.dispose()

    async with open_services(Settings(database_url=database_url, bootstrap=False)) as services:
        assert await current_revision(services.engine) == head_revision()
        assert "old-model" in services.catalog.models
        async with services.engine.connect() as connection:
            ids = (await connection.execute(select(_sql.models.c.id))).scalars().all()
        assert ids == ["old-model"]


async def test_sqlite_files_are_durable(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as connection:
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
            synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar_one()
        assert journal == "wal"
        assert synchronous == 2  # FULL
    finally:
        await engine.dispose()


def test_policy_configs_stored_before_learning_rate_decay_still_load() -> None:
    from bandit.settings import ExplorationSettings
    from domain import PolicyConfig
    from storage.codec import config_from_json, config_to_json

    stored = config_to_json(PolicyConfig(models=("m",)))
    del stored["exploration"]["learning_rate_decay"]
    loaded = config_from_json(stored)
    assert loaded.exploration.learning_rate_decay == ExplorationSettings().learning_rate_decay


def test_policy_configs_stored_before_the_input_bounds_still_load() -> None:
    # Values accepted before issue 9's bounds must not fail start-up: read at the bound.
    from bandit.reward import MAX_COST_WEIGHT, MAX_WAIT_SECONDS
    from bandit.settings import MAX_BITS
    from domain import PolicyConfig
    from storage.codec import config_from_json, config_to_json

    stored = config_to_json(PolicyConfig(models=("m",)))
    del stored["reward"]["reward_range"]
    stored["reward"].update(cost_weight=1e300, wait_seconds=1e12, default_reward=-50.0)
    stored["reward"]["sources"] = {"judge": {"weight": 1e9, "aggregation": "mean"}}
    stored["exploration"]["bits"] = 28
    loaded = config_from_json(stored)
    assert loaded.reward.cost_weight == MAX_COST_WEIGHT
    assert loaded.reward.wait_seconds == MAX_WAIT_SECONDS
    assert loaded.reward.source("judge").weight == 1000.0
    assert loaded.exploration.bits == MAX_BITS
    # The old default reward still lies inside the (widened) range, so the policy loads as is.
    assert loaded.reward.default_reward == -50.0
    assert loaded.reward.reward_range == (-50.0, 10.0)
