"""Prometheus metrics: the instruments the request path records into, and the scrape.

Each app owns one ``RouterMetrics`` with a registry of its own (never prometheus_client's
global one), so several apps in one process - tests - keep separate figures. What already
exists as state (learned counts, lag, role, experiments, Langfuse counts) is read when
Prometheus scrapes, by the collectors passed to ``watch`` (``api.integrations.state_metrics``);
only events that leave no state behind are counted here as they happen.

Labels are bounded: policies and models come from the catalog, HTTP routes are the app's
path templates, never a raw path or a caller-supplied string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from api.telemetry.sink import DecisionTraced, FeedbackScored, TelemetryEvent

__all__ = [
    "CONTENT_TYPE",
    "MetricsSink",
    "ProviderReporter",
    "RouterMetrics",
    "StateCollector",
]

#: The classic Prometheus text format ``generate_latest`` writes (Litestar adds the charset).
CONTENT_TYPE = "text/plain; version=0.0.4"

#: Who measured a provider call: the application (``latency_ms``/``error`` in its feedback)
#: or the router's own proxy.
ProviderReporter = Literal["feedback", "proxy"]

#: Deciding is milliseconds; the top buckets catch a stalled database or learner.
_ROUTE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: LLM calls: from a cached short answer to a long generation.
_PROVIDER_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class StateCollector(Protocol):
    """Figures read at scrape time: ``refresh`` reads what needs the database (awaited
    before each scrape), ``collect`` yields the families from memory and that read."""

    async def refresh(self) -> None: ...

    def collect(self) -> Iterable[Metric]: ...


class RouterMetrics:
    """The app's registry and the instruments the request path records into."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self._routes = Counter(
            "bandit_router_routes",
            "Decisions logged, by policy and chosen model (a retry of a stored decision "
            "is not counted again).",
            ["policy", "model"],
            registry=registry,
        )
        self._feedback = Counter(
            "bandit_router_feedback",
            "Feedback stored, by the decision's policy and model (idempotent retries are "
            "not counted again).",
            ["policy", "model"],
            registry=registry,
        )
        self._route_seconds = Histogram(
            "bandit_router_route_duration_seconds",
            "Time to answer POST /v1/route with a decision, from the request's arrival to "
            "the last byte of the answer, by policy.",
            ["policy"],
            buckets=_ROUTE_BUCKETS,
            registry=registry,
        )
        self._requests = Counter(
            "bandit_router_http_requests",
            "HTTP requests answered, by method, route template ('unmatched' for paths the "
            "app does not serve) and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self._provider_seconds = Histogram(
            "bandit_router_provider_latency_seconds",
            "Latency of calls to a model's provider, by model and by who measured it "
            "('feedback': latency_ms reported by the application; 'proxy': the router's proxy).",
            ["model", "via"],
            buckets=_PROVIDER_BUCKETS,
            registry=registry,
        )
        self._provider_calls = Counter(
            "bandit_router_provider_calls",
            "Provider calls reported, by model and who measured them (a feedback counts as "
            "one when it carries latency_ms or error).",
            ["model", "via"],
            registry=registry,
        )
        self._provider_errors = Counter(
            "bandit_router_provider_errors",
            "Provider calls that failed, by model and who reported the failure.",
            ["model", "via"],
            registry=registry,
        )
        self._watched: list[StateCollector] = []
        self._request_counters: dict[tuple[str, str, int], Counter] = {}
        self._route_histograms: dict[str, Histogram] = {}

    def routed(self, policy: str, model: str) -> None:
        self._routes.labels(policy, model).inc()

    def fed_back(self, policy: str, model: str) -> None:
        self._feedback.labels(policy, model).inc()

    def answered(self, method: str, route: str, status: int) -> None:
        # Every request comes here: a dict hit instead of ``labels()`` (a lock and the
        # label checks) keeps it to a few hundred nanoseconds.
        key = (method, route, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = self._request_counters[key] = self._requests.labels(
                method, route, str(status)
            )
        counter.inc()

    def decided(self, policy: str, seconds: float) -> None:
        """``POST /v1/route`` answered a decision of ``policy`` in ``seconds``."""
        histogram = self._route_histograms.get(policy)
        if histogram is None:
            histogram = self._route_histograms[policy] = self._route_seconds.labels(policy)
        histogram.observe(seconds)

    def provider_call(
        self, model: str, *, seconds: float | None, failed: bool, via: ProviderReporter
    ) -> None:
        """One call to ``model``'s provider: how long it took (None: not measured), whether it
        failed. The proxy calls this with ``via="proxy"`` for the calls it makes."""
        self._provider_calls.labels(model, via).inc()
        if seconds is not None:
            self._provider_seconds.labels(model, via).observe(seconds)
        if failed:
            self._provider_errors.labels(model, via).inc()

    def watch(self, collector: StateCollector) -> Callable[[], None]:
        """Collect ``collector`` at every scrape; returns the function that stops it."""
        self.registry.register(collector)
        self._watched.append(collector)

        def stop() -> None:
            self.registry.unregister(collector)
            self._watched.remove(collector)

        return stop

    async def scrape(self, visible: Callable[[str], bool] | None = None) -> bytes:
        """The registry in the Prometheus text format, state collectors refreshed first.
        ``visible``: only the series of policies it allows (a tenant's key), and every
        series without a policy label."""
        for collector in list(self._watched):
            await collector.refresh()
        if visible is None:
            return generate_latest(self.registry)
        return generate_latest(_PolicyFilter(self.registry, visible))


class _PolicyFilter:
    """A registry's families with the samples of policies ``visible`` does not allow left
    out (the one rule a tenant's scrape follows)."""

    def __init__(self, registry: CollectorRegistry, visible: Callable[[str], bool]) -> None:
        self._registry = registry
        self._visible = visible

    def collect(self) -> Iterable[Metric]:
        for family in self._registry.collect():
            kept = [
                sample
                for sample in family.samples
                if "policy" not in sample.labels or self._visible(sample.labels["policy"])
            ]
            if len(kept) != len(family.samples):
                filtered = Metric(family.name, family.documentation, family.type, family.unit)
                filtered.samples = kept
                family = filtered
            yield family


class MetricsSink:
    """A ``TelemetrySink`` that counts decisions and feedback (and a feedback's provider
    latency and error) into ``metrics``. Counting is a few dict look-ups: it never blocks."""

    def __init__(self, metrics: RouterMetrics) -> None:
        self._metrics = metrics

    def emit(self, event: TelemetryEvent) -> None:
        metrics = self._metrics
        if isinstance(event, DecisionTraced):
            decision = event.decision
            metrics.routed(decision.policy, decision.chosen_model)
        elif isinstance(event, FeedbackScored):
            feedback = event.feedback
            if feedback.policy is None or feedback.model is None:
                return  # read back, not just recorded: nothing new to count
            metrics.fed_back(feedback.policy, feedback.model)
            if feedback.latency_ms is not None or feedback.error is not None:
                metrics.provider_call(
                    feedback.model,
                    seconds=None if feedback.latency_ms is None else feedback.latency_ms / 1000,
                    failed=feedback.error is not None,
                    via="feedback",
                )
