"""The one-method interface the router reports to; what it reports; a sink that drops all.

``emit`` is called on the request path, so every sink must return at once and never raise:
telemetry that fails must not fail a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from storage.records import DecisionRecord, FeedbackRecord

__all__ = ["DecisionTraced", "FeedbackScored", "NullSink", "TelemetryEvent", "TelemetrySink"]


@dataclass(frozen=True, slots=True)
class DecisionTraced:
    """A new decision (it names a trace: ``decision.trace_id``)."""

    decision: DecisionRecord


@dataclass(frozen=True, slots=True)
class FeedbackScored:
    """New feedback on a decision."""

    feedback: FeedbackRecord


TelemetryEvent = DecisionTraced | FeedbackScored


class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None:
        """Take ``event`` for export; return at once, never raise."""


class NullSink:
    """Telemetry off."""

    def emit(self, event: TelemetryEvent) -> None:
        pass
