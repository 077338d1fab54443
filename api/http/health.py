"""Liveness (open) and the service's status (a ``read`` key)."""

from __future__ import annotations

import asyncio

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http.access import access, public
from api.http.schemas import HealthOut, LangfuseStatusOut, StatusOut
from api.service.catalog import Catalog
from api.service.catalog_sync import CatalogSync
from api.service.learners import LearnerRegistry
from api.service.learning import LearningLoop
from api.service.model_health import ModelHealth
from api.service.roles import RoleKeeper
from api.telemetry.langfuse_link import LangfuseLink

__all__ = ["health", "status"]

#: A database that takes longer than this to answer ``SELECT 1`` makes the service degraded.
_DATABASE_TIMEOUT_SECONDS = 5.0


async def _problems(
    engine: AsyncEngine, learning: LearningLoop, model_health: ModelHealth
) -> list[str]:
    problems: list[str] = []
    try:
        async with asyncio.timeout(_DATABASE_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure to answer is what this check reports
        problems.append(f"The database does not answer: {error!r}.")
    problems += learning.problems()
    if model_health.last_error is not None:  # cooldowns are stale: none starts or ends early
        problems.append(model_health.last_error)
    return problems


@get("/health", tags=["health"], opt=public())
async def health(
    engine: NamedDependency[AsyncEngine],
    learning: NamedDependency[LearningLoop],
    model_health: NamedDependency[ModelHealth],
) -> HealthOut:
    """Always 200: ``ok``, or ``degraded`` when the database does not answer or learning
    fails. Open to everybody, so it says nothing more; details are in ``GET /v1/status``."""
    problems = await _problems(engine, learning, model_health)
    return HealthOut(status="degraded" if problems else "ok")


@get("/v1/status", tags=["health"], **access("read"))
async def status(
    engine: NamedDependency[AsyncEngine],
    learning: NamedDependency[LearningLoop],
    learners: NamedDependency[LearnerRegistry],
    catalog: NamedDependency[Catalog],
    langfuse: NamedDependency[LangfuseLink | None],
    model_health: NamedDependency[ModelHealth],
    roles: NamedDependency[RoleKeeper],
    catalog_sync: NamedDependency[CatalogSync],
) -> StatusOut:
    """The service's health with its reasons, this process's role and what it learned, and
    what Langfuse export dropped."""
    problems = await _problems(engine, learning, model_health)
    problems += [e for e in (roles.last_error, catalog_sync.last_error) if e is not None]
    learned = {
        name: live.learner.learned
        for name in sorted(catalog.policies)
        if (live := learners.current(name)) is not None
    }
    return StatusOut(
        status="degraded" if problems else "ok",
        database=engine.dialect.name,
        policies=len(catalog.policies),
        problems=problems,
        langfuse=None if langfuse is None else _langfuse_status(langfuse),
        role=roles.role,
        learned_interactions=sum(learned.values()),
        learned_by_policy=learned,
    )


def _langfuse_status(link: LangfuseLink) -> LangfuseStatusOut:
    exported = link.exporter.counts()
    imported = None if link.poller is None else link.poller.counts()
    fed = None if link.feeder is None else link.feeder.counts()
    return LangfuseStatusOut(
        queued=exported.queued,
        exported=exported.exported,
        dropped=exported.dropped,
        failed=exported.failed,
        scores_imported=0 if imported is None else imported.imported,
        scores_skipped=0 if imported is None else imported.skipped,
        poll_failures=0 if imported is None else imported.failures,
        last_poll_error=None if imported is None else imported.last_error,
        review_items_added=0 if fed is None else fed.added,
        review_failures=0 if fed is None else fed.failures,
        last_review_error=None if fed is None else fed.last_error,
    )
