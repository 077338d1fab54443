"""The key cache: a key this process creates is in force at once, even while a refresh runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

import api.service.keyring as keyring_module
from api.service.clock import wall_clock
from api.service.keyring import KeyRing
from domain import ApiKey, hash_secret
from storage.engine import create_engine
from storage.keys import StoredKey
from storage.keys import list_keys as read_keys
from storage.migrate import upgrade


async def test_a_key_created_during_a_refresh_is_not_dropped_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'router.db'}")
    try:
        await upgrade(engine)
        ring = KeyRing(engine, wall_clock, env_admin_secret=None)
        made = ApiKey(id="key_new", name="new", scopes=frozenset({"read"}))

        async def read_then_create(connection: AsyncConnection) -> list[StoredKey]:
            stored = await read_keys(connection)
            # The request that creates a key finishes between this read and its use.
            ring.remember(made, hash_secret("br_new-secret"))
            return stored

        monkeypatch.setattr(keyring_module, "list_keys", read_then_create)
        await ring.refresh()
        assert ring.authenticate("Bearer br_new-secret") == made
    finally:
        await engine.dispose()
