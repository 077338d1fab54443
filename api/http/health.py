"""Liveness and readiness."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http.schemas import HealthOut
from api.service.catalog import Catalog

__all__ = ["health"]


@get("/health", tags=["health"])
async def health(
    engine: NamedDependency[AsyncEngine], catalog: NamedDependency[Catalog]
) -> HealthOut:
    """200 when the database answers a query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    return HealthOut(status="ok", database=engine.dialect.name, policies=len(catalog.policies))
