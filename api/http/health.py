"""Liveness (open) and the service's status (a ``read`` key)."""

from __future__ import annotations

import asyncio

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http.access import access, public
from api.http.schemas import HealthOut, StatusOut
from api.service.catalog import Catalog
from api.service.learning import LearningHost

__all__ = ["health", "status"]

#: A database that takes longer than this to answer ``SELECT 1`` makes the service degraded.
_DATABASE_TIMEOUT_SECONDS = 5.0


async def _problems(engine: AsyncEngine, learning: LearningHost) -> list[str]:
    problems: list[str] = []
    try:
        async with asyncio.timeout(_DATABASE_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to answer is what this check reports
        problems.append(f"The database does not answer: {error!r}.")
    problems += learning.problems()
    return problems


@get("/health", tags=["health"], opt=public())
async def health(
    engine: NamedDependency[AsyncEngine], learning: NamedDependency[LearningHost]
) -> HealthOut:
    """Always 200: ``ok``, or ``degraded`` when the database does not answer or learning
    fails. Open to everybody, so it says nothing more; details are in ``GET /v1/status``."""
    problems = await _problems(engine, learning)
    return HealthOut(status="degraded" if problems else "ok")


@get("/v1/status", tags=["health"], **access("read"))
async def status(
    engine: NamedDependency[AsyncEngine],
    learning: NamedDependency[LearningHost],
    catalog: NamedDependency[Catalog],
) -> StatusOut:
    """The service's health with its reasons."""
    problems = await _problems(engine, learning)
    return StatusOut(
        status="degraded" if problems else "ok",
        database=engine.dialect.name,
        policies=len(catalog.policies),
        problems=problems,
    )
