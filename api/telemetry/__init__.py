"""Telemetry: decisions out to Langfuse as traces, feedback as scores, and scores back in."""

from api.telemetry.langfuse_export import LangfuseExporter, trace_id_for
from api.telemetry.sink import (
    DecisionTraced,
    FeedbackScored,
    NullSink,
    TelemetryEvent,
    TelemetrySink,
)

__all__ = [
    "DecisionTraced",
    "FeedbackScored",
    "LangfuseExporter",
    "NullSink",
    "TelemetryEvent",
    "TelemetrySink",
    "trace_id_for",
]
