"""Keep this process's catalog and learners in step with changes made through other processes.

Several servers share one PostgreSQL database: a model, policy or experiment changed through
one must be in force in all. Each server reads a fingerprint of the catalog every
``seconds`` (one cheap statement) and, when it changed, reloads the catalog and brings its
learners to the policies' current revisions.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.catalog import Catalog, read_catalog
from api.service.experiments import ExperimentService
from api.service.learners import LearnerRegistry
from storage.catalog import catalog_state

__all__ = ["CatalogSync"]

_log = logging.getLogger(__name__)


class CatalogSync(PeriodicJob):
    task_name = "catalog-sync"

    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        learners: LearnerRegistry,
        experiments: ExperimentService,
        *,
        seconds: float,
    ) -> None:
        super().__init__(seconds=seconds)
        self._engine = engine
        self._catalog = catalog
        self._learners = learners
        self._experiments = experiments
        self._seen: tuple[object, ...] | None = None
        #: Why the last sync failed; None once one succeeds (``/v1/status``).
        self.last_error: str | None = None

    async def sync(self) -> bool:
        """Reload if anything changed; True when it did."""
        async with self._engine.connect() as connection:
            state = await catalog_state(connection)
        if state == self._seen:
            return False
        since = self._catalog.writes()
        models, policies = await read_catalog(self._engine)
        # A new policy's learner first, then the catalog that names it: a request never finds
        # a policy without its learner.
        for record in policies.values():
            if self._learners.current(record.name) is None:
                await self._learners.load(record)
        self._catalog.replace(models, policies, since=since)
        await self._experiments.load()
        for record in list(policies.values()):
            live = self._learners.current(record.name)
            if live is not None and live.revision < record.revision:
                # Changed through another process: learn the new revision from the log.
                await self._learners.rebuild(record)
        async with self._engine.connect() as connection:
            settled = await catalog_state(connection) == state
        # A change another process made while this reload ran is read again next round.
        self._seen = state if settled else None
        return True

    async def _round(self) -> None:
        await self.sync()

    def _round_failed(self, error: str) -> None:
        self.last_error = f"Reading catalog changes failed: {error}"
        _log.warning("%s", self.last_error)

    def _round_succeeded(self) -> None:
        self.last_error = None
