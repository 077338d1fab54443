"""Scores in: a poller that reads Langfuse's public scores API and records them as feedback.

Each score on a trace the router named becomes feedback on that trace's decision, through the
same ``RouterService.feedback`` as ``POST /v1/feedback`` (so the reward window, late flags and
idempotency apply alike), with the Langfuse score id as the idempotency key. The cursor (the
newest ``createdAt`` seen) is stored in the database; each poll reads again from
``lookback_seconds`` before it, because Langfuse's public API shows scores with a lag, and the
idempotency key makes the overlap harmless. A restart therefore neither misses nor repeats a
score.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from langfuse import Langfuse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.integrations.langfuse_export import OWN_SCORE_PREFIX
from api.runtime.periodic import PeriodicJob
from api.service.clock import Clock
from api.service.router import RouterService
from api.settings import LangfuseSettings
from bandit.errors import ConflictError, InvalidInputError, NotFoundError
from domain import FeedbackInput
from storage.langfuse import decision_for_trace, read_cursor, write_cursor
from storage.writer import GroupCommitter

__all__ = ["ConfigRange", "PollCounts", "ScorePoller", "feedback_source", "scaled_score"]

_log = logging.getLogger(__name__)

_CURSOR = "scores"
_PAGE_LIMIT = 100
#: Idempotency keys of imported scores: ``langfuse:<score id>``.
KEY_PREFIX = "langfuse:"


@dataclass(frozen=True, slots=True)
class ConfigRange:
    """What a score config says about its values."""

    min_value: float | None
    max_value: float | None
    #: Category label -> value (categorical configs).
    categories: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class PollCounts:
    imported: int
    skipped: int
    failures: int
    last_error: str | None


def feedback_source(sources: Mapping[str, str], *, name: str, source: str) -> str | None:
    """The router feedback source for a Langfuse score, or None when it is not mapped.

    >>> feedback_source({"ANNOTATION": "reviewer", "helpful/EVAL": "judge"}, name="x",
    ...                 source="ANNOTATION")
    'reviewer'
    >>> feedback_source({"helpful/EVAL": "judge"}, name="helpful", source="EVAL")
    'judge'
    >>> feedback_source({"ANNOTATION": "reviewer"}, name="x", source="EVAL") is None
    True
    """
    for key in (f"{name}/{source}", name, source):
        if key in sources:
            return sources[key]
    return None


def scaled_score(
    *,
    data_type: str,
    value: float,
    label: str | None,
    config: ConfigRange | None,
    categories: Mapping[str, float],
) -> float | None:
    """A Langfuse score value as a router score in [0, 1], or None when it cannot be one.

    Numeric scores are scaled by their config's range; without one (or with an open range)
    they are taken as they are when they lie in [0, 1]. Booleans are 1 or 0 unless
    ``categories`` maps their label; categories go through ``categories``, else they are
    scaled by the config's category values.

    >>> scaled_score(data_type="NUMERIC", value=4.0, label=None,
    ...              config=ConfigRange(1.0, 5.0, {}), categories={})
    0.75
    >>> scaled_score(data_type="NUMERIC", value=3.0, label=None, config=None, categories={})
    >>> scaled_score(data_type="CATEGORICAL", value=1.0, label="ok",
    ...              config=ConfigRange(None, None, {"bad": 0.0, "ok": 1.0, "good": 2.0}),
    ...              categories={})
    0.5
    """
    if data_type == "NUMERIC":
        if config is not None and config.min_value is not None and config.max_value is not None:
            low, high = config.min_value, config.max_value
            if high > low and low <= value <= high:
                return (value - low) / (high - low)
            return None
        return value if 0.0 <= value <= 1.0 else None
    if label is not None and label in categories:
        mapped = categories[label]
        return mapped if 0.0 <= mapped <= 1.0 else None
    if data_type == "BOOLEAN":
        return 1.0 if value >= 0.5 else 0.0
    if data_type == "CATEGORICAL" and config is not None and config.categories:
        low, high = min(config.categories.values()), max(config.categories.values())
        if high > low and low <= value <= high:
            return (value - low) / (high - low)
    return None


def _own(score: Any) -> bool:
    metadata = score.metadata
    return str(score.id).startswith(OWN_SCORE_PREFIX) or (
        isinstance(metadata, dict) and "bandit_router" in metadata
    )


class ScorePoller(PeriodicJob):
    """Polls every ``settings.poll_seconds``; ``start`` once, ``close`` at shutdown."""

    def __init__(
        self,
        client: Langfuse,
        engine: AsyncEngine,
        committer: GroupCommitter,
        router: RouterService,
        clock: Clock,
        *,
        settings: LangfuseSettings,
    ) -> None:
        self._client = client
        self._engine = engine
        self._committer = committer
        self._router = router
        self._clock = clock
        self._settings = settings
        super().__init__(seconds=settings.poll_seconds)
        self._imported = 0
        self._skipped = 0
        self._failures = 0
        self._last_error: str | None = None

    def counts(self) -> PollCounts:
        return PollCounts(self._imported, self._skipped, self._failures, self._last_error)

    task_name = "langfuse-scores"

    async def _round(self) -> None:
        await self.poll()

    def _round_failed(self, error: str) -> None:
        self._failures += 1
        self._last_error = error
        _log.warning("Polling Langfuse scores failed: %s", error)

    def _round_succeeded(self) -> None:
        self._last_error = None

    async def poll(self) -> int:
        """Read the scores since the cursor (less the lookback); record the new ones."""
        async with self._engine.connect() as connection:
            cursor = await read_cursor(connection, name=_CURSOR)
        since = None if cursor is None else cursor - self._settings.lookback_seconds
        configs = await asyncio.to_thread(self._configs)
        newest = cursor
        imported = 0
        page = 1
        while True:
            response = await asyncio.to_thread(
                self._client.api.score_v_2.get,
                page=page,
                limit=_PAGE_LIMIT,
                from_timestamp=None if since is None else datetime.fromtimestamp(since, UTC),
            )
            for score in response.data:
                created = score.created_at.timestamp()
                newest = created if newest is None else max(newest, created)
                if await self._record(score, configs):
                    imported += 1
            if page >= response.meta.total_pages:
                break
            page += 1
        if newest is not None and newest != cursor:
            at = newest

            async def move(connection: AsyncConnection) -> None:
                await write_cursor(connection, name=_CURSOR, created_at=at, now=self._clock())

            await self._committer.run(move)
        return imported

    def _configs(self) -> dict[str, ConfigRange]:
        configs: dict[str, ConfigRange] = {}
        page = 1
        while True:
            response = self._client.api.score_configs.get(page=page, limit=_PAGE_LIMIT)
            for config in response.data:
                configs[config.id] = ConfigRange(
                    min_value=config.min_value,
                    max_value=config.max_value,
                    categories={c.label: c.value for c in config.categories or ()},
                )
            if page >= response.meta.total_pages:
                return configs
            page += 1

    async def _record(self, score: Any, configs: Mapping[str, ConfigRange]) -> bool:
        """True when ``score`` became new feedback."""
        if score.trace_id is None or _own(score):
            self._skipped += 1
            return False
        async with self._engine.connect() as connection:
            decision_id = await decision_for_trace(connection, trace_id=score.trace_id)
        source = feedback_source(self._settings.sources, name=score.name, source=score.source)
        raw = getattr(score, "value", None)  # text scores have none
        value = (
            None
            if raw is None
            else scaled_score(
                data_type=score.data_type,
                value=float(raw),
                label=getattr(score, "string_value", None),
                config=None if score.config_id is None else configs.get(score.config_id),
                categories=self._settings.categories,
            )
        )
        if decision_id is None or source is None or value is None:
            self._skipped += 1
            return False
        try:
            stored = await self._router.feedback(
                FeedbackInput(
                    decision_id=decision_id,
                    source=source,
                    score=value,
                    idempotency_key=f"{KEY_PREFIX}{score.id}",
                ),
                export=False,
            )
        except (ConflictError, InvalidInputError, NotFoundError) as error:
            # A score edited in Langfuse after its import keeps the first value.
            self._skipped += 1
            _log.info("Langfuse score %r not recorded: %s", score.id, error)
            return False
        if stored.created:
            self._imported += 1
        return stored.created
