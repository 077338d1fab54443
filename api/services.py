"""The service's parts, built once in dependency order and closed in reverse.

``open_services`` is the one place that knows how the parts fit: each part gets its
collaborators at construction (nothing is wired afterwards), and every long-lived part
(``api.runtime.periodic.Lifecycle``) is started once all are built and closed in reverse order
on one exit stack. ``create_app`` (``api.app``) hands the parts to the HTTP handlers.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from api.integrations.langfuse_link import LangfuseLink, open_client
from api.integrations.state_metrics import ServiceState
from api.proxy import AnthropicProvider, ModelCalls, OpenAIProvider, ProxyService
from api.proxy.egress import EgressGuard
from api.proxy.judge import ProviderGrader
from api.runtime.periodic import Lifecycle
from api.service.admin import AdminService
from api.service.catalog import Catalog
from api.service.catalog_sync import CatalogSync
from api.service.clock import Clock, wall_clock
from api.service.drift import DriftService
from api.service.embedder import LazyEmbedder
from api.service.evaluation import EvaluationService
from api.service.experiments import ExperimentService
from api.service.export import ExportService
from api.service.health import ServiceHealth
from api.service.judging import JudgeLedger, JudgeService
from api.service.keyring import KeyRing
from api.service.keys import KeyService
from api.service.learn_worker import LearnWorker
from api.service.learners import LearnerRegistry
from api.service.learning import LearningLoop
from api.service.model_health import ModelHealth
from api.service.offload import HeavyJobs, JobRunner, ProcessRunner, ThreadRunner
from api.service.prompt_key import PromptKey, open_prompt_key
from api.service.retention import RetentionJob
from api.service.reviews import ReviewService
from api.service.roles import RoleKeeper
from api.service.router import RouterService
from api.service.sessions import SessionKeeper
from api.service.undo import UndoService
from api.settings import ProxySettings, Settings
from api.telemetry.metrics import MetricsSink, RouterMetrics
from api.telemetry.sink import FanOut, TelemetrySink
from storage.engine import create_engine, create_writer_engine, sqlite_directory
from storage.leader import lease_for
from storage.migrate import upgrade
from storage.writer import GroupCommitter

if TYPE_CHECKING:
    from langfuse import Langfuse

    from api.integrations.langfuse_export import LangfuseExporter

__all__ = ["Services", "open_services"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    engine: AsyncEngine
    committer: GroupCommitter
    catalog: Catalog
    #: Every policy's live learner in this process.
    learners: LearnerRegistry
    #: The join/learn/snapshot rounds.
    learning: LearningLoop
    undo: UndoService
    retention: RetentionJob
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
    #: What ``/health`` and ``GET /v1/status`` report.
    service_health: ServiceHealth
    #: A policy's decision log as DSJSON or JSON Lines.
    export: ExportService
    #: ``POST /v1/chat/completions``: calls the chosen model's provider.
    proxy: ProxyService
    #: Grades a sample of live answers with each policy's judge.
    judging: JudgeService
    #: Conversations kept on one model (and forgotten after their time to live).
    sessions: SessionKeeper
    #: The key of prompt, word and session hashes, and where it is kept.
    prompt_key: PromptKey
    #: Langfuse export and score import; None when Langfuse is not configured.
    langfuse: LangfuseLink | None = None


@asynccontextmanager
async def open_services(
    settings: Settings,
    clock: Clock = wall_clock,
    *,
    runner: JobRunner | None = None,
    metrics: RouterMetrics | None = None,
    on_write_wait: Callable[[float], None] | None = None,
) -> AsyncIterator[Services]:
    """Open the database (migrated), load every learner, run the loops; close in reverse.

    ``runner`` runs heavy reports; by default child processes (or a thread, per settings).
    ``metrics`` receives decisions, feedback and the services' state at each scrape.
    ``on_write_wait`` is told how long each write waited in the group commit (load shedding).
    """
    metrics = metrics or RouterMetrics()
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        heavy_jobs, processes = _heavy_jobs(settings, runner)
        if processes is not None:
            stack.callback(processes.close)  # reports still running answer no one now
        await upgrade(engine)
        committer = GroupCommitter(
            engine,
            writer_engine=create_writer_engine(settings.database_url),
            on_wait=on_write_wait,
        )
        _enter(stack, committer)
        # The learner role first: only the learner bootstraps, joins and snapshots.
        roles = RoleKeeper(lease_for(engine), seconds=settings.role_seconds)
        await roles.check()
        _enter(stack, roles)
        services = await _build(settings, clock, engine, committer, roles, metrics, heavy_jobs)
        for part in _long_lived(services):
            _enter(stack, part)
        unwatch = metrics.watch(
            ServiceState(
                engine,
                services.catalog,
                services.learners,
                services.learning,
                roles,
                clock,
                services.langfuse,
                services.judging,
            )
        )
        stack.callback(unwatch)
        yield services


def _enter(stack: AsyncExitStack, part: Lifecycle) -> None:
    part.start()
    stack.push_async_callback(part.close)


def _long_lived(services: Services) -> list[Lifecycle]:
    """The parts to start, in order; they are closed in reverse. The learning loop closes
    last of them: its final round needs every writer still open and the role still held."""
    parts: list[Lifecycle] = [
        services.learners,
        services.learning,
        services.retention,
        services.keyring,
        services.sessions,
    ]
    link = services.langfuse
    if link is not None:
        parts.append(_LangfuseExport(link.exporter))
        parts += [p for p in (link.feeder, link.poller) if p is not None]
    # The judge after the proxy: it closes first, while the providers' pool is still open.
    parts += [services.model_health, services.catalog_sync, services.proxy, services.judging]
    return parts


@dataclass(frozen=True, slots=True)
class _Base:
    """What every part is built from."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    committer: GroupCommitter
    roles: RoleKeeper
    prompt_key: PromptKey


@dataclass(frozen=True, slots=True)
class _Learning:
    catalog: Catalog
    learners: LearnerRegistry
    admin: AdminService
    experiments: ExperimentService
    loop: LearningLoop
    undo: UndoService
    retention: RetentionJob


async def _build(
    settings: Settings,
    clock: Clock,
    engine: AsyncEngine,
    committer: GroupCommitter,
    roles: RoleKeeper,
    metrics: RouterMetrics,
    heavy_jobs: HeavyJobs,
) -> Services:
    keyring = KeyRing(engine, clock, env_admin_secret=settings.admin_key)
    await keyring.refresh()
    prompt_key = await open_prompt_key(
        engine, value=settings.prompt_key, file=settings.prompt_key_path()
    )
    base = _Base(settings, clock, engine, committer, roles, prompt_key)
    learning = await _learning(base)
    catalog, learners = learning.catalog, learning.learners
    model_health = ModelHealth(engine, catalog, clock, seconds=settings.model_health_seconds)
    await model_health.refresh()
    client, exporter, name_trace = _langfuse_export(settings)
    routing = await _routing(
        base, learning, model_health, _telemetry(metrics, exporter), name_trace
    )
    router = routing.router
    keys = await _keys(base, catalog, keyring)
    catalog_sync = CatalogSync(
        engine, catalog, learners, learning.experiments, seconds=settings.catalog_sync_seconds
    )
    await catalog_sync.sync()
    return Services(
        engine=engine,
        committer=committer,
        catalog=catalog,
        learners=learners,
        learning=learning.loop,
        undo=learning.undo,
        retention=learning.retention,
        router=router,
        admin=learning.admin,
        experiments=learning.experiments,
        evaluation=EvaluationService(settings.database_url, catalog, heavy_jobs),
        drift=DriftService(settings.database_url, catalog, heavy_jobs),
        keyring=keyring,
        keys=keys,
        heavy_jobs=heavy_jobs,
        reviews=routing.reviews,
        model_health=model_health,
        roles=roles,
        catalog_sync=catalog_sync,
        service_health=ServiceHealth(
            engine, catalog, learners, learning.loop, model_health, roles, catalog_sync
        ),
        export=ExportService(engine, catalog),
        proxy=routing.proxy,
        judging=routing.judging,
        sessions=routing.sessions,
        prompt_key=prompt_key,
        langfuse=_langfuse_link(base, client, exporter, router, catalog),
    )


@dataclass(frozen=True, slots=True)
class _Routing:
    """Routing and what serves its answers: sessions, the proxy, the judge, reviews."""

    router: RouterService
    sessions: SessionKeeper
    judging: JudgeService
    reviews: ReviewService
    proxy: ProxyService


async def _routing(
    base: _Base,
    learning: _Learning,
    model_health: ModelHealth,
    telemetry: TelemetrySink,
    name_trace: Callable[[str], str] | None,
) -> _Routing:
    settings, engine, clock = base.settings, base.engine, base.clock
    catalog = learning.catalog
    ledger = JudgeLedger(engine, clock, queue_size=settings.proxy.judge_queue_size)
    sessions = SessionKeeper(
        engine,
        base.committer,
        clock,
        key=base.prompt_key.key,
        ttl_seconds=settings.session_ttl_seconds,
        leading=base.roles.is_learner,
    )
    router = await _router(base, learning, model_health, telemetry, name_trace, ledger, sessions)
    pool, calls = _provider_calls(settings.proxy)
    judging = JudgeService(
        engine,
        catalog,
        ledger,
        router.feedback,
        clock,
        grader=ProviderGrader(catalog, calls),
        workers=settings.proxy.judge_workers,
    )
    reviews = ReviewService(engine, base.committer, catalog, clock, judging=judging)
    proxy = ProxyService(
        router, catalog, calls, settings.proxy, judging=judging, reviews=reviews, client=pool
    )
    return _Routing(router, sessions, judging, reviews, proxy)


async def _router(
    base: _Base,
    learning: _Learning,
    model_health: ModelHealth,
    telemetry: TelemetrySink,
    name_trace: Callable[[str], str] | None,
    ledger: JudgeLedger,
    sessions: SessionKeeper,
) -> RouterService:
    return RouterService(
        base.engine,
        base.committer,
        learning.catalog,
        learning.learners,
        base.clock,
        prompt_key=base.prompt_key.key,
        max_candidates=base.settings.max_candidates,
        embedder=_embedder(learning.catalog),
        telemetry=telemetry,
        name_trace=name_trace,
        observer=model_health,
        leading=base.roles.is_learner,
        learn_soon=learning.loop.notify,
        judge_open=ledger.is_open,
        sessions=sessions,
    )


async def _learning(base: _Base) -> _Learning:
    """The catalog and every policy's learner, the services that change them, and the loop
    that learns (whose rounds end with the experiment checks)."""
    settings, clock, engine, committer = base.settings, base.clock, base.engine, base.committer
    catalog = Catalog()
    await catalog.load(engine)
    learners = LearnerRegistry(
        engine,
        committer,
        catalog,
        clock,
        database_url=settings.database_url,
        relearn_in_process_max=settings.relearn_in_process_max,
    )
    for record in catalog.policies.values():
        await learners.load(record)
    admin = AdminService(
        committer,
        catalog,
        learners,
        clock,
        max_policies=settings.max_policies,
        provider_key_envs=settings.proxy.key_envs,
        allow_private_endpoints=settings.proxy.allow_private_endpoints,
    )
    if settings.bootstrap and base.roles.is_learner():
        await admin.bootstrap()
    experiments = ExperimentService(engine, committer, catalog, admin, clock)
    await experiments.load()
    loop = LearningLoop(
        engine,
        committer,
        catalog,
        learners,
        clock,
        interval_seconds=settings.learn_interval_seconds,
        snapshot_every=settings.snapshot_every,
        snapshot_seconds=settings.snapshot_seconds,
        leading=base.roles.is_learner,
        learn_worker=LearnWorker(settings.database_url) if _learns_in_child(settings) else None,
        after_round=experiments.evaluate_running,
    )
    retention = RetentionJob(
        committer,
        catalog,
        learners,
        clock,
        backlog_seconds=settings.learn_interval_seconds,
        leading=base.roles.is_learner,
    )
    undo = UndoService(engine, committer, catalog, learners, clock)
    return _Learning(catalog, learners, admin, experiments, loop, undo, retention)


def _heavy_jobs(
    settings: Settings, runner: JobRunner | None
) -> tuple[HeavyJobs, ProcessRunner | None]:
    """Where heavy reports run: ``runner``, else child processes (or a thread, per settings)."""
    processes: ProcessRunner | None = None
    if runner is None:
        if settings.heavy_jobs_in_processes:
            runner = processes = ProcessRunner()
            processes.warm()
        else:
            runner = ThreadRunner()
    return HeavyJobs(runner, max_jobs=settings.max_heavy_jobs), processes


def _embedder(catalog: Catalog) -> LazyEmbedder:
    embedder = LazyEmbedder()
    if any(p.config.features.embedding for p in catalog.policies.values()):
        embedder.load()  # pay the load at start-up, not on a request
    return embedder


async def _keys(base: _Base, catalog: Catalog, keyring: KeyRing) -> KeyService:
    """The key service; on a database without keys (and no admin key set), an admin key is
    made and written to a file beside the database."""
    keys = KeyService(base.engine, base.committer, catalog, keyring, base.clock)
    if base.settings.admin_key is None:
        written = await keys.bootstrap_admin_key(base.settings.bootstrap_key_path())
        if written is not None:
            _log.warning(
                "created an admin API key (the database had none); it is in %s "
                "(readable by this user only). Send it as 'Authorization: Bearer <key>'.",
                written.resolve(),
            )
    return keys


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


def _langfuse_export(
    settings: Settings,
) -> tuple[Langfuse | None, LangfuseExporter | None, Callable[[str], str] | None]:
    """The client, the exporter and the trace id a decision names, when Langfuse is on."""
    if settings.langfuse is None:
        return None, None, None
    # Imported only when configured: the SDK takes most of a second to import.
    from api.integrations.langfuse_export import LangfuseExporter, trace_id_for

    client = open_client(settings.langfuse)
    exporter = LangfuseExporter(client, queue_size=settings.langfuse.queue_size)
    return client, exporter, trace_id_for


def _langfuse_link(
    base: _Base,
    client: Langfuse | None,
    exporter: LangfuseExporter | None,
    router: RouterService,
    catalog: Catalog,
) -> LangfuseLink | None:
    langfuse = base.settings.langfuse
    if langfuse is None or client is None or exporter is None:
        return None
    from api.integrations.langfuse_queues import QueueFeeder
    from api.integrations.langfuse_scores import ScorePoller

    engine, committer, clock = base.engine, base.committer, base.clock
    poller = (
        ScorePoller(client, engine, committer, router, clock, settings=langfuse)
        if langfuse.poll_seconds > 0
        else None
    )
    feeder = (
        QueueFeeder(
            client,
            engine,
            committer,
            lambda: list(catalog.policies),
            clock,
            seconds=langfuse.review_seconds,
        )
        if langfuse.review_seconds > 0
        else None
    )
    return LangfuseLink(exporter, poller, feeder)


def _provider_calls(settings: ProxySettings) -> tuple[httpx.AsyncClient, ModelCalls]:
    """One connection pool for every provider call (the proxy's and the judge's); the proxy
    closes it after the last request."""
    transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    )
    if not settings.allow_private_endpoints:
        transport = EgressGuard(transport)
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.read_seconds, connect=settings.first_byte_seconds),
        transport=transport,
    )
    calls = ModelCalls(
        {"openai": OpenAIProvider(client), "anthropic": AnthropicProvider(client)},
        settings,
        environ=os.environ,
    )
    return client, calls


class _LangfuseExport:
    """The exporter's thread as a part: Langfuse may hang, so waiting for it at shutdown is
    bounded, and off the event loop."""

    def __init__(self, exporter: LangfuseExporter) -> None:
        self._exporter = exporter

    def start(self) -> None:
        self._exporter.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._exporter.close)
