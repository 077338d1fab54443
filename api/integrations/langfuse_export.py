"""Decisions out to Langfuse as traces and feedback as scores, off the request path.

``emit`` puts the event on a bounded queue and returns; one daemon thread takes batches off
it, turns them into spans and scores through the official SDK and flushes the SDK after
each batch (so the SDK's own queues never hold more than one batch). When Langfuse is slow
or down the thread waits on the SDK, the queue fills, and what does not fit is dropped and
counted: routing never waits for Langfuse, and nothing the router stores depends on it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from langfuse import Langfuse

from api.telemetry.sink import DecisionTraced, FeedbackScored, TelemetryEvent
from domain import DecisionRecord, FeedbackRecord

__all__ = ["OWN_SCORE_PREFIX", "ExportCounts", "LangfuseExporter", "trace_id_for"]

_log = logging.getLogger(__name__)

#: Ids of the scores the router sends start with this, so the score poller never imports
#: them back (their metadata also says ``"bandit_router": "feedback"``).
OWN_SCORE_PREFIX = "bandit-router-"


def trace_id_for(decision_id: str) -> str:
    """The Langfuse trace a decision names: derived from its id, the same in every process."""
    return Langfuse.create_trace_id(seed=decision_id)


@dataclass(frozen=True, slots=True)
class ExportCounts:
    #: Events waiting in the queue.
    queued: int
    #: Events handed to the SDK and flushed.
    exported: int
    #: Events dropped because the queue was full (Langfuse slow or down).
    dropped: int
    #: Events the SDK refused to take (an error building the span or score).
    failed: int


class LangfuseExporter:
    """A ``TelemetrySink`` that exports to Langfuse. ``start`` once; ``close`` at shutdown."""

    def __init__(self, client: Langfuse, *, queue_size: int = 10_000, batch_size: int = 256):
        self._client = client
        self._queue: queue.Queue[TelemetryEvent | None] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._exported = 0
        self._dropped = 0
        self._failed = 0
        self._thread = threading.Thread(target=self._run, name="langfuse-export", daemon=True)

    def emit(self, event: TelemetryEvent) -> None:
        if isinstance(event, FeedbackScored) and not event.export:
            return  # it came from Langfuse
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            # Only the event loop's thread emits, so a plain counter is exact.
            self._dropped += 1

    def counts(self) -> ExportCounts:
        return ExportCounts(
            queued=self._queue.qsize(),
            exported=self._exported,
            dropped=self._dropped,
            failed=self._failed,
        )

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Export what is queued, waiting at most ``timeout`` seconds (Langfuse may hang)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return  # the thread is stuck on Langfuse; it is a daemon and dies with us
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            events = [e for e in batch if e is not None]
            for event in events:
                try:
                    if isinstance(event, DecisionTraced):
                        self._trace(event.decision)
                    elif isinstance(event, FeedbackScored):
                        self._score(event.feedback)
                except Exception:  # telemetry must not stop: count, log, go on
                    self._failed += 1
                    _log.exception("Could not export an event to Langfuse.")
                else:
                    self._exported += 1
                # Hand the GIL back between events: building spans is Python work, and the
                # event loop would otherwise wait up to the 5 ms switch interval per turn.
                time.sleep(0)
            try:
                self._client.flush()
            except Exception:
                _log.exception("Could not flush the Langfuse client.")
            if None in batch:
                return

    def _trace(self, decision: DecisionRecord) -> None:
        if decision.trace_id is None:
            return
        experiment = decision.experiment
        metadata = {
            "decision_id": decision.id,
            "policy": decision.policy,
            "policy_version": decision.policy_version,
            "model": decision.chosen_model,
            "propensity": decision.propensity,
            "pmf": {arm.id: p for arm, p in zip(decision.arms, decision.pmf, strict=True)},
            "experiment_id": None if experiment is None else experiment.id,
            "experiment_arm": None if experiment is None else experiment.arm,
            "features": dict(decision.caller_features),
            "created_at": decision.created_at,
        }
        # ``decision.prompt`` is set only when the policy stores prompts.
        prompt = decision.prompt
        span = self._client.start_span(
            name="bandit-router.route",
            trace_context={"trace_id": decision.trace_id},
            input=prompt,
            output={"model": decision.chosen_model},
            metadata=metadata,
            version=str(decision.policy_version),
        )
        span.update_trace(
            name=f"route {decision.policy}",
            input=prompt,
            metadata=metadata,
            tags=["bandit-router", f"policy:{decision.policy}"],
        )
        span.end()

    def _score(self, feedback: FeedbackRecord) -> None:
        trace = trace_id_for(feedback.decision_id)
        marker = {
            "bandit_router": "feedback",
            "feedback_id": feedback.id,
            "source": feedback.source,
            "cost_usd": feedback.cost_usd,
            "latency_ms": feedback.latency_ms,
            "error": feedback.error,
            "late": feedback.late,
        }
        if feedback.score is not None:
            self._client.create_score(
                name=feedback.source,
                value=feedback.score,
                trace_id=trace,
                score_id=f"{OWN_SCORE_PREFIX}{feedback.id}",
                data_type="NUMERIC",
                metadata=marker,
            )
        # Cost and latency as scores of their own: Langfuse charts and filters them.
        for name, value in (("cost_usd", feedback.cost_usd), ("latency_ms", feedback.latency_ms)):
            if value is not None:
                self._client.create_score(
                    name=name,
                    value=value,
                    trace_id=trace,
                    score_id=f"{OWN_SCORE_PREFIX}{feedback.id}-{name}",
                    data_type="NUMERIC",
                    metadata=marker,
                )
