"""``GET /metrics``: the Prometheus text format, for a ``read`` key unless opened by setting."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler

from api.http.access import access, caller_key, public
from api.telemetry.metrics import CONTENT_TYPE, RouterMetrics

__all__ = ["metrics_endpoint"]


def metrics_endpoint(*, open_to_all: bool) -> HTTPRouteHandler:
    """The handler; ``open_to_all`` (``BANDIT_ROUTER_METRICS_PUBLIC``) lets scrapers in without
    a key, for a network where only Prometheus reaches the port. Closed by default: like every
    other figure of the service, metrics name its policies and models."""
    rule: dict[str, Any] = {"opt": public()} if open_to_all else access("read")

    async def scrape(
        metrics: NamedDependency[RouterMetrics], request: Request[Any, Any, Any]
    ) -> Response[bytes]:
        """This process's metrics in the Prometheus text format (version 0.0.4); a key limited
        to some policies sees only their series."""
        caller = None if open_to_all else caller_key(request)
        visible = None if caller is None or caller.policies is None else caller.may_use
        return Response(await metrics.scrape(visible), media_type=CONTENT_TYPE)

    return get("/metrics", tags=["health"], name="metrics", media_type=CONTENT_TYPE, **rule)(scrape)
