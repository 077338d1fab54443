"""The session keeper answers a session it was just told of from memory at once, stores it in
the background for the other processes, and forgets it after its time to live."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from api.app import Services, open_services
from api.service.sessions import SessionKeeper
from api.settings import Settings
from domain import Session
from tests.clock import FakeClock


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = Settings(database_url=database_url, learn_interval_seconds=3600, bootstrap=False)
    async with open_services(settings, FakeClock()) as opened:
        yield opened


def _keeper(services: Services, clock: FakeClock, ttl: float = 60.0) -> SessionKeeper:
    return SessionKeeper(
        services.engine,
        services.committer,
        clock,
        key=b"k" * 32,
        ttl_seconds=ttl,
        leading=lambda: True,
    )


async def test_a_session_kept_soon_is_found_at_once_and_by_another_process_later(
    services: Services,
) -> None:
    clock = FakeClock()
    here, elsewhere = _keeper(services, clock), _keeper(services, clock)
    key = here.conversation_key("default", '[["user","hi"]]')

    here.keep_soon(Session(key, "default", "d-1", "gpt-4o"))
    found = await here.find(key)  # before the background write has committed
    assert found is not None
    assert (found.decision_id, found.model) == ("d-1", "gpt-4o")
    await here.close()  # waits for the pending write

    stored = await elsewhere.find(key)
    assert stored is not None
    assert (stored.decision_id, stored.model) == ("d-1", "gpt-4o")


async def test_a_session_unused_for_its_time_to_live_is_forgotten(services: Services) -> None:
    clock = FakeClock()
    keeper = _keeper(services, clock, ttl=60.0)
    key = keeper.session_key("default", "chat-7")
    await keeper.keep(Session(key, "default", "d-1", "gpt-4o"))

    clock.now += 61.0
    assert await keeper.find(key) is None
    patient = _keeper(services, clock, ttl=1e9)  # would still find a row left in the table
    assert await patient.find(key) is not None
    await keeper._round()  # the expiry job's round
    assert await patient.find(key) is None
