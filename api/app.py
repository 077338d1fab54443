"""The composition root: ``create_app(settings)`` builds every part of the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http.admin import ModelController, PolicyController
from api.http.drift import DriftController
from api.http.errors import exception_handlers
from api.http.evaluation import EvaluationController
from api.http.experiments import ExperimentController
from api.http.export import ExportController
from api.http.health import health
from api.http.routing import RoutingController
from api.pages.dashboard import dashboard
from api.service.admin import AdminService
from api.service.catalog import Catalog
from api.service.clock import Clock, wall_clock
from api.service.drift import DriftService
from api.service.embedder import LazyEmbedder
from api.service.evaluation import EvaluationService
from api.service.experiments import ExperimentService
from api.service.learning import LearningHost
from api.service.offload import HeavyJobs, JobRunner, ProcessRunner, ThreadRunner
from api.service.router import RouterService
from api.settings import Settings
from storage.engine import create_engine
from storage.meta import prompt_hash_key
from storage.migrate import upgrade
from storage.writer import GroupCommitter

__all__ = ["Services", "create_app", "open_services"]


@dataclass(slots=True)
class Services:
    engine: AsyncEngine
    committer: GroupCommitter
    catalog: Catalog
    learning: LearningHost
    router: RouterService
    admin: AdminService
    experiments: ExperimentService
    evaluation: EvaluationService
    drift: DriftService
    heavy_jobs: HeavyJobs


@asynccontextmanager
async def open_services(
    settings: Settings, clock: Clock = wall_clock, *, runner: JobRunner | None = None
) -> AsyncIterator[Services]:
    """Open the database (migrated), load every learner, run the loops; close in reverse.

    ``runner`` runs heavy reports; by default child processes (or a thread, per settings).
    """
    engine = create_engine(settings.database_url)
    processes: ProcessRunner | None = None
    if runner is None:
        if settings.heavy_jobs_in_processes:
            runner = processes = ProcessRunner()
            processes.warm()
        else:
            runner = ThreadRunner()
    heavy_jobs = HeavyJobs(runner, max_jobs=settings.max_heavy_jobs)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            key = await prompt_hash_key(connection)
        committer = GroupCommitter(engine)
        committer.start()
        catalog = Catalog()
        await catalog.load(engine)
        learning = LearningHost(
            engine,
            committer,
            catalog,
            clock,
            interval_seconds=settings.learn_interval_seconds,
            snapshot_every=settings.snapshot_every,
            snapshot_seconds=settings.snapshot_seconds,
        )
        try:
            for record in catalog.policies.values():
                await learning.load(record)
            admin = AdminService(committer, catalog, learning, clock)
            if settings.bootstrap:
                await admin.bootstrap()
            experiments = ExperimentService(engine, committer, catalog, admin, clock)
            await experiments.load()
            learning.after_step = experiments.evaluate_running
            embedder = LazyEmbedder()
            if any(p.config.features.embedding for p in catalog.policies.values()):
                embedder.load()  # pay the load at start-up, not on a request
            router = RouterService(
                engine,
                committer,
                catalog,
                learning,
                clock,
                prompt_key=key,
                max_candidates=settings.max_candidates,
                embedder=embedder,
            )
            learning.start()
            try:
                evaluation = EvaluationService(settings.database_url, catalog, heavy_jobs)
                drift = DriftService(settings.database_url, catalog, heavy_jobs)
                yield Services(
                    engine,
                    committer,
                    catalog,
                    learning,
                    router,
                    admin,
                    experiments,
                    evaluation,
                    drift,
                    heavy_jobs,
                )
            finally:
                if processes is not None:
                    processes.close()  # reports still running answer no one now
                await learning.close()
        finally:
            await committer.close()
    finally:
        await engine.dispose()


def create_app(
    settings: Settings, *, clock: Clock = wall_clock, runner: JobRunner | None = None
) -> Litestar:
    holder: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with open_services(settings, clock, runner=runner) as services:
            holder["services"] = services
            yield

    def provide(name: str) -> Provide:
        def dependency() -> Any:
            return getattr(holder["services"], name)

        return Provide(dependency, sync_to_thread=False)

    return Litestar(
        route_handlers=[
            RoutingController,
            ModelController,
            PolicyController,
            ExperimentController,
            EvaluationController,
            DriftController,
            ExportController,
            health,
            dashboard,
        ],
        dependencies={
            name: provide(name)
            for name in (
                "engine",
                "catalog",
                "learning",
                "router",
                "admin",
                "experiments",
                "evaluation",
                "drift",
            )
        },
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="bandit-router", version="0.1.0"),
    )
