"""Review queues in Langfuse: the score configs and a policy's annotation queue, and a feeder
that adds the policy's review sample to that queue.

``setup`` creates what is missing and reuses what exists by name, so it can be run again. The
server does not store the queue id: the feeder looks the queue up by its name
(``bandit-router/POLICY``) on each round, so a queue created (or deleted) while the server runs
is picked up without a restart. What was added is stored per decision, so each sampled decision
is added once, across restarts too; a crash between Langfuse's answer and the commit can add
one decision twice (Langfuse then shows it twice; its scores are imported once).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from langfuse import Langfuse
from langfuse.api import (
    AnnotationQueueObjectType,
    CreateAnnotationQueueItemRequest,
    CreateAnnotationQueueRequest,
    CreateScoreConfigRequest,
    ScoreConfigDataType,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.clock import Clock
from storage.langfuse import mark_queued, unqueued_reviews
from storage.writer import GroupCommitter, Operation

__all__ = [
    "QueueCounts",
    "QueueFeeder",
    "ScoreConfigSpec",
    "SetupResult",
    "queue_name",
    "setup",
]

_log = logging.getLogger(__name__)

_PAGE_LIMIT = 100
#: Decisions added per policy and round; the rest wait for the next round.
_BATCH = 100


@dataclass(frozen=True, slots=True)
class ScoreConfigSpec:
    name: str
    min_value: float
    max_value: float
    description: str


#: What the score poller maps back: a reviewer's 1-5 stars (scaled to 0..1 by this range) in
#: the annotation queue, and a 0..1 score for LLM-as-a-judge evaluators.
SCORE_CONFIGS = (
    ScoreConfigSpec("reviewer", 1.0, 5.0, "bandit-router: a reviewer's 1-5 stars"),
    ScoreConfigSpec("judge", 0.0, 1.0, "bandit-router: an LLM judge's score from 0 to 1"),
)
#: The configs an annotator fills in on a queue item (the judge's is for evaluators).
QUEUE_CONFIGS = ("reviewer",)


def queue_name(policy: str) -> str:
    """The annotation queue of ``policy``.

    >>> queue_name("support")
    'bandit-router/support'
    """
    return f"bandit-router/{policy}"


@dataclass(frozen=True, slots=True)
class SetupResult:
    queue_id: str
    #: ``kind name id`` of what was made, e.g. ``("score config", "reviewer", "c-1")``.
    created: tuple[tuple[str, str, str], ...]
    reused: tuple[tuple[str, str, str], ...]


def _all(read: Callable[..., Any]) -> list[Any]:
    """Every item of a paged Langfuse listing."""
    items: list[Any] = []
    page = 1
    while True:
        response = read(page=page, limit=_PAGE_LIMIT)
        items.extend(response.data)
        if page >= response.meta.total_pages:
            return items
        page += 1


def setup(client: Langfuse, policy: str) -> SetupResult:
    """Create the score configs and ``policy``'s annotation queue unless they exist by name."""
    if not policy.strip():
        raise ValueError(f"A policy name is needed for its review queue, got {policy!r}.")
    created: list[tuple[str, str, str]] = []
    reused: list[tuple[str, str, str]] = []
    existing = {c.name: c.id for c in _all(client.api.score_configs.get) if not c.is_archived}
    config_ids: dict[str, str] = {}
    for spec in SCORE_CONFIGS:
        if spec.name in existing:
            config_ids[spec.name] = existing[spec.name]
            reused.append(("score config", spec.name, existing[spec.name]))
            continue
        config = client.api.score_configs.create(
            request=CreateScoreConfigRequest(
                name=spec.name,
                dataType=ScoreConfigDataType.NUMERIC,
                minValue=spec.min_value,
                maxValue=spec.max_value,
                description=spec.description,
            )
        )
        config_ids[spec.name] = config.id
        created.append(("score config", spec.name, config.id))
    name = queue_name(policy)
    queue_id = _find_queue(client, name)
    if queue_id is None:
        queue = client.api.annotation_queues.create_queue(
            request=CreateAnnotationQueueRequest(
                name=name,
                description=f"Decisions of the bandit-router policy {policy!r} sampled for review.",
                scoreConfigIds=[config_ids[c] for c in QUEUE_CONFIGS],
            )
        )
        queue_id = queue.id
        created.append(("annotation queue", name, queue_id))
    else:
        reused.append(("annotation queue", name, queue_id))
    return SetupResult(queue_id, tuple(created), tuple(reused))


def _find_queue(client: Langfuse, name: str) -> str | None:
    return _queues(client).get(name)


def _queues(client: Langfuse) -> dict[str, str]:
    """Annotation queue name -> id."""
    return {q.name: q.id for q in _all(client.api.annotation_queues.list_queues)}


@dataclass(frozen=True, slots=True)
class QueueCounts:
    added: int
    failures: int
    last_error: str | None


class QueueFeeder(PeriodicJob):
    """Adds sampled decisions to their policy's queue every ``seconds``; ``start`` once,
    ``close`` at shutdown. Runs beside routing and never holds it up: Langfuse is called off
    the event loop, and a failed round is counted and tried again next time."""

    def __init__(
        self,
        client: Langfuse,
        engine: AsyncEngine,
        committer: GroupCommitter,
        policies: Callable[[], Iterable[str]],
        clock: Clock,
        *,
        seconds: float,
    ) -> None:
        self._client = client
        self._engine = engine
        self._committer = committer
        self._policies = policies
        self._clock = clock
        super().__init__(seconds=seconds)
        self._added = 0
        self._failures = 0
        self._last_error: str | None = None

    def counts(self) -> QueueCounts:
        return QueueCounts(self._added, self._failures, self._last_error)

    task_name = "langfuse-queues"

    async def _round(self) -> None:
        await self.feed()

    def _round_failed(self, error: str) -> None:
        self._failures += 1
        self._last_error = error
        _log.warning("Adding decisions to Langfuse queues failed: %s", error)

    async def feed(self) -> int:
        """Add each policy's newly sampled decisions to its queue; the number added.

        One policy's failure (say its queue refuses items) is counted and does not keep the
        other policies' decisions out of their queues; failing to list the queues fails all.
        """
        queues = await asyncio.to_thread(_queues, self._client)
        added = 0
        failed = False
        for policy in sorted(self._policies()):
            queue_id = queues.get(queue_name(policy))
            if queue_id is None:
                continue  # no ``langfuse setup`` for this policy: nothing to feed
            try:
                added += await self._feed(policy, queue_id)
            except Exception as error:
                failed = True
                self._round_failed(f"policy {policy!r}: {type(error).__name__}: {error}")
        if not failed:
            self._last_error = None
        return added

    async def _feed(self, policy: str, queue_id: str) -> int:
        async with self._engine.connect() as connection:
            waiting = await unqueued_reviews(connection, policy=policy, limit=_BATCH)
        for decision_id, trace_id in waiting:
            item = await asyncio.to_thread(
                self._client.api.annotation_queues.create_queue_item,
                queue_id,
                request=CreateAnnotationQueueItemRequest(
                    objectId=trace_id, objectType=AnnotationQueueObjectType.TRACE
                ),
            )
            await self._committer.run(_marker(decision_id, queue_id, str(item.id), self._clock()))
            self._added += 1
        return len(waiting)


def _marker(decision_id: str, queue_id: str, item_id: str, now: float) -> Operation[None]:
    async def mark(connection: AsyncConnection) -> None:
        await mark_queued(
            connection, decision_id=decision_id, queue_id=queue_id, item_id=item_id, now=now
        )

    return mark
