"""The composition root: ``create_app(settings)`` builds the HTTP app over the service's parts
(``api.services.open_services``), which its lifespan opens and closes."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

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
from api.proxy import ChatController
from api.service.clock import Clock, wall_clock
from api.service.gc_tuning import tune_for_serving
from api.service.offload import JobRunner
from api.service.rate_limit import RateLimiter
from api.services import Services, open_services
from api.settings import Settings
from api.telemetry.metrics import RouterMetrics

__all__ = ["Services", "create_app", "open_services"]


class _Running:
    """The parts of the running app: opened by its lifespan, handed to handlers by name."""

    def __init__(self) -> None:
        self._services: Services | None = None

    def get(self) -> Services:
        if self._services is None:
            raise RuntimeError("The service is not open: no request is served before startup.")
        return self._services

    @asynccontextmanager
    async def open(self, services: Services) -> AsyncIterator[None]:
        self._services = services
        try:
            yield
        finally:
            self._services = None

    def dependencies(self) -> dict[str, Provide]:
        """One dependency per part, named as the ``Services`` field (``router``, ...)."""
        return {
            field.name: Provide(self._provider(field.name), sync_to_thread=False)
            for field in dataclasses.fields(Services)
        }

    def _provider(self, name: str) -> Callable[[], object]:
        def part() -> object:
            return getattr(self.get(), name)

        return part


#: Every route but the pages and ``/metrics`` (whose openness is a setting).
_API_HANDLERS: list[ControllerRouterHandler] = [
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
]


def _shedding(settings: Settings, writer_queue: StandingQueue | None) -> DefineMiddleware:
    """Past ``max_in_flight`` requests at once, or a writer queue that has stood longer than
    ``max_wait_seconds``, the excess gets an immediate 503, not a queue."""
    return DefineMiddleware(
        LoadShedder,
        max_in_flight=settings.max_in_flight,
        max_wait_seconds=settings.max_wait_seconds,
        writer=writer_queue,
    )


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
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
    )


def create_app(
    settings: Settings, *, clock: Clock = wall_clock, runner: JobRunner | None = None
) -> Litestar:
    running = _Running()
    metrics = RouterMetrics()
    # The writer's queue, watched by load shedding; the group commit reports into it.
    writer_queue = (
        None if settings.max_wait_seconds is None else StandingQueue(settings.max_wait_seconds)
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with (
            open_services(
                settings,
                clock,
                runner=runner,
                metrics=metrics,
                on_write_wait=None if writer_queue is None else writer_queue.observe_now,
            ) as services,
            running.open(services),
        ):
            if settings.tune_gc:
                tune_for_serving()
            yield

    app = Litestar(
        route_handlers=[
            *_API_HANDLERS,
            metrics_endpoint(open_to_all=settings.metrics_public),
            dashboard,
            review,
        ],
        guards=[
            AccessControl(keyring=lambda: running.get().keyring, limiter=RateLimiter(), clock=clock)
        ],
        dependencies={
            "caller": Provide(caller_key, sync_to_thread=False),
            "metrics": Provide(lambda: metrics, sync_to_thread=False),
            **running.dependencies(),
        },
        exception_handlers=exception_handlers,
        middleware=[_shedding(settings, writer_queue)],
        # Every JSON body is decoded strictly (no "0.5" -> 0.5) and checked in one place.
        request_class=StrictRequest,
        before_request=refuse_nul_in_url,
        lifespan=[lifespan],
        plugins=[StrictStructSchemaPlugin()],
        openapi_config=_openapi(),
    )
    # Litestar's ``middleware`` wraps each route, so it never sees a path no route serves:
    # the access log and request counts wrap the whole app instead.
    app.asgi_handler = RequestLog(
        app.asgi_handler,
        metrics=metrics,
        log=logging.getLogger(ACCESS_LOGGER) if settings.access_log else None,
    )
    return app
