"""The access log and request metrics wrapper on its own (ASGI in, lines out), the metrics
sink and registry, and the settings that open /metrics and turn the log off."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from litestar.handlers import HTTPRouteHandler
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.http.request_log import RequestLog, log_access_to
from api.settings import Settings
from api.telemetry.metrics import MetricsSink, RouterMetrics
from api.telemetry.sink import FanOut, FeedbackScored, TelemetryEvent
from domain import FeedbackRecord

Message = dict[str, Any]


def _scope(path: str = "/v1/route", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers or [],
        "state": {},
    }


async def _run(app: Any, scope: Any) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the wrapper must not read the body")

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _answering(status: int, *, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        # What a handler does: routing sets the template, the handler names its decision.
        scope["path_template"] = "/v1/route"
        scope["state"]["bandit_router.decision"] = ("d-1", "default")
        await send({"type": "http.response.start", "status": status, "headers": headers or []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    return app


def _logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"test.access.{id(stream)}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger, stream


def _samples(metrics: RouterMetrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    from prometheus_client import generate_latest

    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_one_json_line_per_request_with_the_decision_and_a_request_id() -> None:
    metrics = RouterMetrics()
    logger, stream = _logger()
    app = RequestLog(_answering(200), metrics=metrics, log=logger)
    sent = await _run(app, _scope(headers=[(b"x-request-id", b"caller-42")]))
    assert (b"x-request-id", b"caller-42") in sent[0]["headers"]
    [line] = stream.getvalue().splitlines()
    logged = json.loads(line)
    assert logged["decision_id"] == "d-1"
    assert logged["policy"] == "default"
    assert logged["request_id"] == "caller-42"
    assert logged["status"] == 200
    assert logged["key_id"] is None  # no guard ran
    samples = _samples(metrics)
    assert ({"policy": "default"}, 1.0) in samples["bandit_router_route_duration_seconds_count"]
    assert (
        {"method": "POST", "route": "/v1/route", "status": "200"},
        1.0,
    ) in samples["bandit_router_http_requests_total"]


async def test_invented_methods_are_counted_as_other() -> None:
    metrics = RouterMetrics()
    app = RequestLog(_answering(405), metrics=metrics, log=None)
    await _run(app, {**_scope(), "method": "BREW"})
    [(labels, count)] = _samples(metrics)["bandit_router_http_requests_total"]
    assert (labels["method"], count) == ("other", 1.0)


async def test_a_failed_route_is_counted_but_not_timed_as_a_decision() -> None:
    metrics = RouterMetrics()
    app = RequestLog(_answering(422), metrics=metrics, log=None)
    await _run(app, _scope())
    samples = _samples(metrics)
    assert "bandit_router_route_duration_seconds_count" not in samples
    assert (
        {"method": "POST", "route": "/v1/route", "status": "422"},
        1.0,
    ) in samples["bandit_router_http_requests_total"]


async def test_an_app_that_fails_before_answering_is_logged_as_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    logger, stream = _logger()
    with pytest.raises(RuntimeError):
        await _run(RequestLog(broken, metrics=RouterMetrics(), log=logger), _scope("/x"))
    logged = json.loads(stream.getvalue())
    assert logged["status"] == 500
    assert logged["route"] == "unmatched"


async def test_the_proxy_header_names_the_decision_and_odd_request_ids_are_replaced() -> None:
    logger, stream = _logger()

    async def proxy(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"x-bandit-router-decision-id", b"d-proxy")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    app = RequestLog(proxy, metrics=RouterMetrics(), log=logger)
    sent = await _run(app, _scope(headers=[(b"x-request-id", b"has space")]))
    logged = json.loads(stream.getvalue())
    assert logged["decision_id"] == "d-proxy"
    assert logged["request_id"] != "has space"
    assert (b"x-request-id", logged["request_id"].encode()) in sent[0]["headers"]


async def test_log_off_writes_nothing() -> None:
    _, stream = _logger()
    app = RequestLog(_answering(200), metrics=RouterMetrics(), log=None)
    await _run(app, _scope())
    assert stream.getvalue() == ""


def test_log_access_to_writes_bare_json_lines_once() -> None:
    stream = io.StringIO()
    logger = log_access_to(stream)
    log_access_to(stream)  # a second call adds no second handler
    try:
        logger.info('{"a":1}')
        assert stream.getvalue() == '{"a":1}\n'
    finally:
        for handler in [h for h in logger.handlers if getattr(h, "stream", None) is stream]:
            logger.removeHandler(handler)


def _feedback(**fields: Any) -> FeedbackRecord:
    values: dict[str, Any] = {
        "id": "f-1",
        "decision_id": "d-1",
        "source": "user",
        "score": 0.5,
        "cost_usd": None,
        "latency_ms": None,
        "error": None,
        "idempotency_key": None,
        "late": False,
        "created_at": 0.0,
        "policy": "p",
        "model": "m",
    }
    return FeedbackRecord(**{**values, **fields})


def test_feedback_counts_and_reports_provider_calls_only_with_latency_or_error() -> None:
    metrics = RouterMetrics()
    sink = MetricsSink(metrics)
    sink.emit(FeedbackScored(_feedback()))
    sink.emit(FeedbackScored(_feedback(latency_ms=1500.0)))
    sink.emit(FeedbackScored(_feedback(error="timeout")))
    sink.emit(FeedbackScored(_feedback(policy=None, model=None)))  # read back: not counted
    samples = _samples(metrics)
    assert samples["bandit_router_feedback_total"] == [({"policy": "p", "model": "m"}, 3.0)]
    assert samples["bandit_router_provider_calls_total"] == [
        ({"model": "m", "via": "feedback"}, 2.0)
    ]
    assert samples["bandit_router_provider_errors_total"] == [
        ({"model": "m", "via": "feedback"}, 1.0)
    ]
    assert samples["bandit_router_provider_latency_seconds_sum"] == [
        ({"model": "m", "via": "feedback"}, 1.5)
    ]


def test_a_failing_sink_fails_neither_the_others_nor_the_caller() -> None:
    seen: list[TelemetryEvent] = []

    class Broken:
        def emit(self, event: TelemetryEvent) -> None:
            raise RuntimeError("broken sink")

    class Kept:
        def emit(self, event: TelemetryEvent) -> None:
            seen.append(event)

    event = FeedbackScored(_feedback())
    FanOut([Broken(), Kept()]).emit(event)
    assert seen == [event]


def test_apps_in_one_process_keep_their_own_registries() -> None:
    first, second = RouterMetrics(), RouterMetrics()
    first.routed("p", "m")
    assert ({"policy": "p", "model": "m"}, 1.0) in _samples(first)["bandit_router_routes_total"]
    assert "bandit_router_routes_total" not in _samples(second)


def _metrics_handler(settings: Settings) -> HTTPRouteHandler:
    app = create_app(settings)
    [handler] = {
        h
        for route in app.routes
        if route.path == "/metrics"
        for h in getattr(route, "route_handlers", [])
        if isinstance(h, HTTPRouteHandler) and "GET" in h.http_methods
    }
    return handler


def test_metrics_need_a_read_key_unless_opened() -> None:
    closed = _metrics_handler(Settings(database_url="sqlite:///unused.db"))
    assert closed.opt["scopes"] == ("read",)
    assert not closed.opt.get("public")
    opened = _metrics_handler(Settings(database_url="sqlite:///unused.db", metrics_public=True))
    assert opened.opt["public"] is True


def test_settings_switches_from_the_environment() -> None:
    default = Settings.from_environment({})
    assert (default.metrics_public, default.access_log) == (False, True)
    switched = Settings.from_environment(
        {"BANDIT_ROUTER_METRICS_PUBLIC": "yes", "BANDIT_ROUTER_ACCESS_LOG": "OFF"}
    )
    assert (switched.metrics_public, switched.access_log) == (True, False)
    with pytest.raises(ValueError, match="BANDIT_ROUTER_ACCESS_LOG must be on or off"):
        Settings.from_environment({"BANDIT_ROUTER_ACCESS_LOG": "sometimes"})


def test_feedback_from_langfuse_is_counted_but_not_sent_back() -> None:
    from typing import cast

    from langfuse import Langfuse

    from api.integrations.langfuse_export import LangfuseExporter

    metrics = RouterMetrics()
    exporter = LangfuseExporter(cast(Langfuse, object()), queue_size=4)
    sink = FanOut([MetricsSink(metrics), exporter])
    sink.emit(FeedbackScored(_feedback(), export=False))
    assert exporter.counts().queued == 0
    sink.emit(FeedbackScored(_feedback()))
    assert exporter.counts().queued == 1
    assert _samples(metrics)["bandit_router_feedback_total"] == [
        ({"policy": "p", "model": "m"}, 2.0)
    ]


async def test_a_policy_read_is_logged_with_its_policy() -> None:
    """Issue 21: policy reads were logged with ``policy: null``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["path_template"] = "/v1/policies/{name:str}"
        scope["path_params"] = {"name": "support"}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": False})

    logger, stream = _logger()
    await _run(RequestLog(app, metrics=RouterMetrics(), log=logger), _scope())
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["policy"] == "support"
