"""The composition root: ``create_app(settings)`` builds every part of the service."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http.access import AccessControl, caller_key
from api.http.admin import ModelController, PolicyController
from api.http.body import StrictRequest, refuse_nul_in_url
from api.http.drift import DriftController
from api.http.errors import exception_handlers
from api.http.evaluation import EvaluationController
from api.http.experiments import ExperimentController
from api.http.export import ExportController
from api.http.health import health, status
from api.http.keys import AuditController, KeyController
from api.http.metrics import metrics_endpoint
from api.http.openapi import StrictStructSchemaPlugin
from api.http.request_log import ACCESS_LOGGER, RequestLog
from api.http.reviews import ReviewController
from api.http.routing import RoutingController
from api.http.shedding import LoadShedder, StandingQueue
from api.http.undo import UndoController
from api.pages.dashboard import dashboard
from api.pages.review import review
from api.proxy import (
    AnthropicProvider,
    ChatController,
    ModelCalls,
    OpenAIProvider,
    ProxyService,
)
from api.service.admin import AdminService
from api.service.catalog import Catalog
from api.service.catalog_sync import CatalogSync
from api.service.clock import Clock, wall_clock
from api.service.drift import DriftService
from api.service.embedder import LazyEmbedder
from api.service.evaluation import EvaluationService
from api.service.experiments import ExperimentService
from api.service.gc_tuning import tune_for_serving
from api.service.keyring import KeyRing
from api.service.keys import KeyService
from api.service.learn_worker import LearnWorker
from api.service.learning import LearningHost
from api.service.model_health import ModelHealth
from api.service.offload import HeavyJobs, JobRunner, ProcessRunner, ThreadRunner
from api.service.rate_limit import RateLimiter
from api.service.reviews import ReviewService
from api.service.roles import RoleKeeper
from api.service.router import RouterService
from api.settings import Settings
from api.telemetry.langfuse_link import LangfuseLink, open_client
from api.telemetry.metrics import MetricsSink, RouterMetrics
from api.telemetry.sink import FanOut, TelemetrySink
from api.telemetry.state_metrics import ServiceState
from storage.engine import create_engine, create_writer_engine, sqlite_directory
from storage.leader import lease_for
from storage.meta import prompt_hash_key
from storage.migrate import upgrade
from storage.writer import GroupCommitter

if TYPE_CHECKING:
    from langfuse import Langfuse

    from api.telemetry.langfuse_export import LangfuseExporter

__all__ = ["Services", "create_app", "open_services"]

_log = logging.getLogger(__name__)


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
    keyring: KeyRing
    keys: KeyService
    heavy_jobs: HeavyJobs
    reviews: ReviewService
    #: Which models each policy cools down, and their observed latency and output length.
    model_health: ModelHealth
    roles: RoleKeeper
    catalog_sync: CatalogSync
    #: ``POST /v1/chat/completions``: calls the chosen model's provider.
    proxy: ProxyService
    #: Langfuse export and score import; None when Langfuse is not configured.
    langfuse: LangfuseLink | None = None


@asynccontextmanager
async def open_services(
    settings: Settings,
    clock: Clock = wall_clock,
    *,
    runner: JobRunner | None = None,
    metrics: RouterMetrics | None = None,
) -> AsyncIterator[Services]:
    """Open the database (migrated), load every learner, run the loops; close in reverse.

    ``runner`` runs heavy reports; by default child processes (or a thread, per settings).
    ``metrics`` receives decisions, feedback and the services' state at each scrape.
    """
    metrics = metrics or RouterMetrics()
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
        committer = GroupCommitter(
            engine, writer_engine=create_writer_engine(settings.database_url)
        )
        committer.start()
        catalog = Catalog()
        await catalog.load(engine)
        keyring = KeyRing(engine, clock, env_admin_secret=settings.admin_key)
        await keyring.refresh()
        # The learner role first: only the learner bootstraps, joins and snapshots.
        roles = RoleKeeper(lease_for(engine), seconds=settings.role_seconds)
        await roles.check()
        learning = LearningHost(
            engine,
            committer,
            catalog,
            clock,
            interval_seconds=settings.learn_interval_seconds,
            snapshot_every=settings.snapshot_every,
            snapshot_seconds=settings.snapshot_seconds,
            database_url=settings.database_url,
            relearn_in_process_max=settings.relearn_in_process_max,
            leading=roles.is_learner,
            learn_worker=LearnWorker(settings.database_url) if _learns_in_child(settings) else None,
        )
        try:
            for record in catalog.policies.values():
                await learning.load(record)
            admin = AdminService(
                committer,
                catalog,
                learning,
                clock,
                max_policies=settings.max_policies,
                provider_key_envs=settings.proxy.key_envs,
            )
            if settings.bootstrap and roles.is_learner():
                await admin.bootstrap()
            experiments = ExperimentService(engine, committer, catalog, admin, clock)
            await experiments.load()
            learning.after_step = experiments.evaluate_running
            embedder = LazyEmbedder()
            if any(p.config.features.embedding for p in catalog.policies.values()):
                embedder.load()  # pay the load at start-up, not on a request
            client: Langfuse | None = None
            exporter: LangfuseExporter | None = None
            name_trace: Callable[[str], str] | None = None
            if settings.langfuse is not None:
                # Imported only when configured: the SDK takes most of a second to import.
                from api.telemetry.langfuse_export import LangfuseExporter, trace_id_for

                client = open_client(settings.langfuse)
                exporter = LangfuseExporter(client, queue_size=settings.langfuse.queue_size)
                name_trace = trace_id_for
            # Cooldowns, observed latency and output length: routing's eligibility reads them.
            model_health = ModelHealth(
                engine, catalog, clock, seconds=settings.model_health_seconds
            )
            await model_health.refresh()
            router = RouterService(
                engine,
                committer,
                catalog,
                learning,
                clock,
                prompt_key=key,
                max_candidates=settings.max_candidates,
                embedder=embedder,
                telemetry=_telemetry(metrics, exporter),
                name_trace=name_trace,
                observer=model_health,
                leading=roles.is_learner,
            )
            link: LangfuseLink | None = None
            if client is not None and exporter is not None and settings.langfuse is not None:
                from api.telemetry.langfuse_queues import QueueFeeder
                from api.telemetry.langfuse_scores import ScorePoller

                poller = (
                    ScorePoller(
                        client, engine, committer, router, clock, settings=settings.langfuse
                    )
                    if settings.langfuse.poll_seconds > 0
                    else None
                )
                feeder = (
                    QueueFeeder(
                        client,
                        engine,
                        committer,
                        lambda: list(catalog.policies),
                        clock,
                        seconds=settings.langfuse.review_seconds,
                    )
                    if settings.langfuse.review_seconds > 0
                    else None
                )
                link = LangfuseLink(exporter, poller, feeder)
            keys = KeyService(engine, committer, catalog, keyring, clock)
            if settings.admin_key is None:
                written = await keys.bootstrap_admin_key(settings.bootstrap_key_path())
                if written is not None:
                    _log.warning(
                        "created an admin API key (the database had none); it is in %s "
                        "(readable by this user only). Send it as 'Authorization: Bearer <key>'.",
                        written.resolve(),
                    )
            catalog_sync = CatalogSync(
                engine, catalog, learning, experiments, seconds=settings.catalog_sync_seconds
            )
            await catalog_sync.sync()
            learning.start()
            roles.start()
            catalog_sync.start()
            keyring.start()
            model_health.start()
            if link is not None:
                link.exporter.start()
                if link.poller is not None:
                    link.poller.start()
                if link.feeder is not None:
                    link.feeder.start()
            # One connection pool for every provider call; closed after the last request.
            provider_client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    settings.proxy.read_seconds, connect=settings.proxy.first_byte_seconds
                ),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            )
            proxy = ProxyService(
                router,
                catalog,
                ModelCalls(
                    {
                        "openai": OpenAIProvider(provider_client),
                        "anthropic": AnthropicProvider(provider_client),
                    },
                    settings.proxy,
                    environ=os.environ,
                ),
                settings.proxy,
            )
            unwatch = metrics.watch(ServiceState(engine, catalog, learning, roles, clock, link))
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
                    keyring,
                    keys,
                    heavy_jobs,
                    ReviewService(engine, committer, catalog, clock),
                    model_health,
                    roles,
                    catalog_sync,
                    proxy,
                    link,
                )
            finally:
                unwatch()
                await provider_client.aclose()
                await catalog_sync.close()
                await model_health.close()
                if link is not None:
                    if link.poller is not None:
                        await link.poller.close()
                    if link.feeder is not None:
                        await link.feeder.close()
                    # Langfuse may hang: waiting for it is bounded, and off the event loop.
                    await asyncio.to_thread(link.exporter.close)
                await keyring.close()
                if processes is not None:
                    processes.close()  # reports still running answer no one now
                await learning.close()
        finally:
            await roles.close()
            await committer.close()
    finally:
        await engine.dispose()


def _learns_in_child(settings: Settings) -> bool:
    """A child can open every database but SQLite in memory (that one is the server's own)."""
    in_memory = (
        make_url(settings.database_url).get_backend_name() == "sqlite"
        and sqlite_directory(settings.database_url) is None
    )
    return settings.learn_in_child and not in_memory


def _telemetry(metrics: RouterMetrics, exporter: LangfuseExporter | None) -> TelemetrySink:
    counted = MetricsSink(metrics)
    return counted if exporter is None else FanOut([counted, exporter])


def create_app(
    settings: Settings, *, clock: Clock = wall_clock, runner: JobRunner | None = None
) -> Litestar:
    holder: dict[str, Services] = {}
    metrics = RouterMetrics()
    # The writer's queue, watched by load shedding; the group commit reports into it.
    writer_queue = (
        None if settings.max_wait_seconds is None else StandingQueue(settings.max_wait_seconds)
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with open_services(settings, clock, runner=runner, metrics=metrics) as services:
            holder["services"] = services
            if writer_queue is not None:
                services.committer.on_wait = writer_queue.observe_now
            if settings.tune_gc:
                tune_for_serving()
            yield

    def provide(name: str) -> Provide:
        def dependency() -> Any:
            return getattr(holder["services"], name)

        return Provide(dependency, sync_to_thread=False)

    app = Litestar(
        route_handlers=[
            RoutingController,
            ChatController,
            ModelController,
            PolicyController,
            ExperimentController,
            EvaluationController,
            DriftController,
            ExportController,
            KeyController,
            AuditController,
            UndoController,
            ReviewController,
            health,
            status,
            metrics_endpoint(open_to_all=settings.metrics_public),
            dashboard,
            review,
        ],
        guards=[
            AccessControl(
                keyring=lambda: holder["services"].keyring, limiter=RateLimiter(), clock=clock
            )
        ],
        dependencies={
            "caller": Provide(caller_key, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, sync_to_thread=False),
            **{
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
                    "keys",
                    "reviews",
                    "model_health",
                    "roles",
                    "catalog_sync",
                    "proxy",
                    "langfuse",
                )
            },
        },
        exception_handlers=exception_handlers,
        # Past this many requests at once the excess gets an immediate 503, not a queue.
        middleware=[
            DefineMiddleware(
                LoadShedder,
                max_in_flight=settings.max_in_flight,
                max_wait_seconds=settings.max_wait_seconds,
                writer=writer_queue,
            )
        ],
        # Every JSON body is decoded strictly (no "0.5" -> 0.5) and checked in one place.
        request_class=StrictRequest,
        before_request=refuse_nul_in_url,
        lifespan=[lifespan],
        plugins=[StrictStructSchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title="bandit-router",
            version="0.1.0",
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key: 'Authorization: Bearer <key>'.",
                    )
                }
            ),
        ),
    )
    # Litestar's ``middleware`` wraps each route, so it never sees a path no route serves:
    # the access log and request counts wrap the whole app instead.
    app.asgi_handler = RequestLog(
        app.asgi_handler,
        metrics=metrics,
        log=logging.getLogger(ACCESS_LOGGER) if settings.access_log else None,
    )
    return app
