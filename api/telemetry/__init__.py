"""Telemetry: decisions out to Langfuse as traces, feedback as scores, and scores back in;
Prometheus metrics (``api.telemetry.metrics``).

The Langfuse modules are imported only where Langfuse is configured: the SDK takes most of a
second to import, and a server without Langfuse should not pay it at start-up.
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
