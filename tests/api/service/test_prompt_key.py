"""Issue 21: the prompt key (of prompt, word and session hashes) lives outside the database,
and an installation that kept it inside moves it out once, with the same value."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.prompt_key import open_prompt_key
from storage.engine import create_engine
from storage.meta import prompt_hash_key, stored_prompt_key
from storage.migrate import upgrade


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    opened = create_engine(database_url)
    await upgrade(opened)
    try:
        yield opened
    finally:
        await opened.dispose()


async def _in_database(engine: AsyncEngine) -> bytes | None:
    async with engine.connect() as connection:
        return await stored_prompt_key(connection)


async def test_a_new_installation_keeps_its_key_in_a_file_readable_by_its_owner_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    file = tmp_path / "prompt.key"

    first = await open_prompt_key(engine, value=None, file=file)
    again = await open_prompt_key(engine, value=None, file=file)

    assert first.kept_in == "file"
    assert first.warning is None
    assert again.key == first.key
    assert len(first.key) == 32
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert await _in_database(engine) is None


async def test_a_key_kept_in_the_database_moves_out_with_its_value(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as connection:  # as an earlier version left it
        old = await prompt_hash_key(connection)

    moved = await open_prompt_key(engine, value=None, file=tmp_path / "prompt.key")

    assert moved.key == old  # every stored hash still matches
    assert await _in_database(engine) is None
    assert bytes.fromhex((tmp_path / "prompt.key").read_text()) == old


async def test_the_environment_wins_and_a_different_stored_key_stops_the_start(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as connection:
        old = await prompt_hash_key(connection)

    with pytest.raises(RuntimeError, match="differs from the one this database's hashes"):
        await open_prompt_key(engine, value="ab" * 32, file=None)
    same = await open_prompt_key(engine, value=old.hex(), file=None)

    assert (same.key, same.kept_in) == (old, "environment")
    assert await _in_database(engine) is None


async def test_with_nowhere_outside_it_stays_in_the_database_and_says_so(
    engine: AsyncEngine,
) -> None:
    kept = await open_prompt_key(engine, value=None, file=None)

    assert kept.kept_in == "database"
    assert kept.warning is not None
    assert "BANDIT_ROUTER_PROMPT_KEY" in kept.warning
    assert await _in_database(engine) == kept.key


async def test_a_short_key_is_refused_with_a_sentence(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="at least 32 hex digits"):
        await open_prompt_key(engine, value="abc", file=None)
