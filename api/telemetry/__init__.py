"""Telemetry: the one-method sink every decision and feedback is emitted to, and the
Prometheus metrics (``api.telemetry.metrics``). The lowest layer of ``api/`` with
``api.runtime``: services emit here; the Langfuse exporter (``api.integrations``) is a sink.
"""

from api.telemetry.sink import (
    DecisionTraced,
    FanOut,
    FeedbackScored,
    NullSink,
    TelemetryEvent,
    TelemetrySink,
)

__all__ = [
    "DecisionTraced",
    "FanOut",
    "FeedbackScored",
    "NullSink",
    "TelemetryEvent",
    "TelemetrySink",
]
