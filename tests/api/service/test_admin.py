"""AdminService: what a change made through this process puts in force in it at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.app import Services, open_services
from api.service.router import RouteRequest
from api.settings import Settings
from domain import ModelSpec, PolicyConfig
from storage.catalog import put_model
from tests.clock import FakeClock


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    # No catalog sync during the test: only what the service itself does is in force.
    settings = Settings(database_url=database_url, catalog_sync_seconds=3600, bootstrap=False)
    async with open_services(settings, FakeClock()) as opened:
        yield opened


async def test_a_policy_goes_live_with_models_another_process_put(services: Services) -> None:
    # Another server put the model: the database has it, this process's catalog not yet.
    other = ModelSpec("elsewhere", 0.5, 1.5)
    async with services.engine.begin() as connection:
        await put_model(connection, model=other, now=0.0)
    assert "elsewhere" not in services.catalog.models
    await services.admin.put_policy("p", PolicyConfig(models=("elsewhere",)))
    # Routing to the new policy finds its model (it was a 404 until the next sync).
    decision = await services.router.route(RouteRequest(policy="p", prompt="x"))
    assert decision.chosen_model == "elsewhere"
    assert services.catalog.model("elsewhere") == other
