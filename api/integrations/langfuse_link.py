"""The Langfuse client the router uses, and the running exporter and poller together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.settings import LangfuseSettings

# Only for annotations: the SDK is imported when Langfuse is configured (``open_client``).
if TYPE_CHECKING:
    from langfuse import Langfuse

    from api.integrations.langfuse_export import LangfuseExporter
    from api.integrations.langfuse_queues import QueueFeeder
    from api.integrations.langfuse_scores import ScorePoller

__all__ = ["LangfuseLink", "open_client"]


def open_client(settings: LangfuseSettings) -> Langfuse:
    """An SDK client with a tracer provider of its own: the router's spans go to Langfuse
    only, and the application's global OpenTelemetry setup is left alone."""
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

    return Langfuse(
        public_key=settings.public_key,
        secret_key=settings.secret_key,
        host=settings.host,
        timeout=settings.timeout_seconds,
        tracer_provider=TracerProvider(),
    )


class LangfuseLink:
    """The running exporter, poller and feeder together.

    A plain class, not a dataclass: Litestar inspects a dataclass dependency's field types,
    and these name the Langfuse modules, which are imported only when Langfuse is on.
    """

    __slots__ = ("exporter", "feeder", "poller")

    def __init__(
        self,
        exporter: LangfuseExporter,
        poller: ScorePoller | None,
        feeder: QueueFeeder | None = None,
    ) -> None:
        self.exporter = exporter
        #: None when scores-in is off (``poll_seconds`` 0).
        self.poller = poller
        #: None when review queues are off (``review_seconds`` 0).
        self.feeder = feeder
