"""Is the service well, and what did it learn: what ``/health`` and ``GET /v1/status`` say."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from api.service.catalog_sync import CatalogSync
from api.service.learners import LearnerRegistry
from api.service.learning import LearningLoop
from api.service.model_health import ModelHealth
from api.service.roles import RoleKeeper

__all__ = ["ServiceHealth"]

#: A database that takes longer than this to answer ``SELECT 1`` makes the service degraded.
_DATABASE_TIMEOUT_SECONDS = 5.0


class ServiceHealth:
    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        learners: LearnerRegistry,
        learning: LearningLoop,
        model_health: ModelHealth,
        roles: RoleKeeper,
        catalog_sync: CatalogSync,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._learners = learners
        self._learning = learning
        self._model_health = model_health
        self._roles = roles
        self._catalog_sync = catalog_sync

    @property
    def database(self) -> str:
        """The database's kind (``sqlite``, ``postgresql``)."""
        return self._engine.dialect.name

    async def problems(self) -> list[str]:
        """What makes the service degraded, as sentences: a database that does not answer,
        learning that fails, cooldowns that are stale."""
        problems: list[str] = []
        try:
            async with (
                asyncio.timeout(_DATABASE_TIMEOUT_SECONDS),
                self._engine.connect() as connection,
            ):
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure to answer is what this check reports
            problems.append(f"The database does not answer: {error!r}.")
        problems += self._learning.problems()
        if self._model_health.last_error is not None:  # no cooldown starts or ends early
            problems.append(self._model_health.last_error)
        return problems

    async def all_problems(self) -> list[str]:
        """``problems`` and this process's own: its learner-role check, its catalog sync."""
        problems = await self.problems()
        own = (self._roles.last_error, self._catalog_sync.last_error)
        return problems + [e for e in own if e is not None]

    def learned_by_policy(self) -> dict[str, int]:
        """Interactions each policy's learner in this process has learned."""
        return {
            name: live.learner.learned
            for name in sorted(self._catalog.policies)
            if (live := self._learners.current(name)) is not None
        }
