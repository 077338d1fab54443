"""The Langfuse client the router uses, and the running exporter and poller together."""

from __future__ import annotations

from dataclasses import dataclass

from langfuse import Langfuse
from opentelemetry.sdk.trace import TracerProvider

from api.settings import LangfuseSettings
from api.telemetry.langfuse_export import LangfuseExporter
from api.telemetry.langfuse_queues import QueueFeeder
from api.telemetry.langfuse_scores import ScorePoller

__all__ = ["LangfuseLink", "open_client"]


def open_client(settings: LangfuseSettings) -> Langfuse:
    """An SDK client with a tracer provider of its own: the router's spans go to Langfuse
    only, and the application's global OpenTelemetry setup is left alone."""
    return Langfuse(
        public_key=settings.public_key,
        secret_key=settings.secret_key,
        host=settings.host,
        timeout=settings.timeout_seconds,
        tracer_provider=TracerProvider(),
    )


@dataclass(frozen=True, slots=True)
class LangfuseLink:
    exporter: LangfuseExporter
    #: None when scores-in is off (``poll_seconds`` 0).
    poller: ScorePoller | None
    #: None when review queues are off (``review_seconds`` 0).
    feeder: QueueFeeder | None = None
