"""The one-method interface the router reports to; what it reports; a sink that drops all.

``emit`` is called on the request path, so every sink must return at once and never raise:
telemetry that fails must not fail a request.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain import DecisionRecord, FeedbackRecord

__all__ = [
    "DecisionTraced",
    "FanOut",
    "FeedbackScored",
    "NullSink",
    "TelemetryEvent",
    "TelemetrySink",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DecisionTraced:
    """A new decision (it names a trace: ``decision.trace_id``)."""

    decision: DecisionRecord


@dataclass(frozen=True, slots=True)
class FeedbackScored:
    """New feedback on a decision."""

    feedback: FeedbackRecord
    #: False for feedback that came from Langfuse: it is counted, not sent back there.
    export: bool = True


TelemetryEvent = DecisionTraced | FeedbackScored


class TelemetrySink(Protocol):
    def emit(self, event: TelemetryEvent) -> None:
        """Take ``event`` for export; return at once, never raise."""


class NullSink:
    """Telemetry off."""

    def emit(self, event: TelemetryEvent) -> None:
        pass


class FanOut:
    """Every event to each of ``sinks`` in turn (metrics, then Langfuse): one that raises
    against its promise is logged, and neither the others nor the request notice."""

    def __init__(self, sinks: Sequence[TelemetrySink]) -> None:
        self._sinks = tuple(sinks)

    def emit(self, event: TelemetryEvent) -> None:
        for sink in self._sinks:
            try:
                sink.emit(event)
            except Exception:  # telemetry must never fail a request
                _log.exception("A telemetry sink failed on %s.", type(event).__name__)
