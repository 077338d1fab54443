"""Shared fixtures: a database URL for SQLite (a real file) and for a real PostgreSQL.

PostgreSQL tests create a fresh database per test on the server named by
``BANDIT_ROUTER_TEST_POSTGRES_URL`` (default: trust auth on 127.0.0.1:5432, database ``test``)
and fail, rather than skip, when it is unreachable: CI always has one.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url

# Every Hypothesis test draws the same examples on every run and machine (the house rule:
# seed every random thing); a test may still ask for more examples than the default.
settings.register_profile("seeded", derandomize=True, database=None)
settings.load_profile("seeded")

POSTGRES_URL = os.environ.get(
    "BANDIT_ROUTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def _admin(statement: str) -> None:
    url = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A URL to a new, empty PostgreSQL database, dropped afterwards."""
    name = f"bandit_router_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'router.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Every storage and service test runs on both backends."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))
