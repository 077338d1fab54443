"""A model's endpoint is stored and read back on both backends, and replaced or removed by a
PUT; nothing but the variable's name is stored for its key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import ModelEndpoint, ModelSpec
from storage import _sql
from storage.catalog import get_model, list_models, put_model
from storage.engine import create_engine
from storage.migrate import upgrade

ENDPOINT = ModelEndpoint("anthropic", "https://api.anthropic.com", "claude-x", "ANTHROPIC_KEY")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_an_endpoint_round_trips_and_a_put_without_one_removes_it(
    engine: AsyncEngine,
) -> None:
    model = ModelSpec("claude", 3.0, 15.0, provider="anthropic", endpoint=ENDPOINT)
    async with engine.begin() as connection:
        assert await put_model(connection, model=model, now=1.0)
        await put_model(connection, model=ModelSpec("bare", 1.0, 2.0), now=1.0)
    async with engine.connect() as connection:
        assert (await get_model(connection, model_id="claude")).endpoint == ENDPOINT
        assert [m.endpoint for m in await list_models(connection)] == [None, ENDPOINT]
        stored = (
            await connection.execute(
                select(_sql.models.c.endpoint).where(_sql.models.c.id == "claude")
            )
        ).scalar_one()
    assert stored == {
        "api": "anthropic",
        "base_url": "https://api.anthropic.com",
        "model": "claude-x",
        "api_key_env": "ANTHROPIC_KEY",
    }
    async with engine.begin() as connection:
        await put_model(connection, model=ModelSpec("claude", 3.0, 15.0), now=2.0)
    async with engine.connect() as connection:
        assert (await get_model(connection, model_id="claude")).endpoint is None
