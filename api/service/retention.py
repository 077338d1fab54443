"""Retention: each policy's decisions older than its ``retention_days`` are deleted, with their
feedback and rewards, by the learner only.

Deletes in small transactions through the group commit, never a decision the newest snapshot
does not include (see :mod:`storage.retention`), so a restart still resumes to the same learner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from api.runtime.periodic import PeriodicJob
from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.learners import LearnerRegistry
from storage.retention import delete_expired
from storage.writer import GroupCommitter

__all__ = ["RetentionJob"]

_log = logging.getLogger(__name__)

#: Expired decisions deleted per transaction: small, so routing writes queued behind one
#: chunk in the group commit wait milliseconds, not the whole clean-up.
_CHUNK = 200
#: Chunks per policy per round: a large backlog is worked off over several rounds, so the
#: group commit is never held up for long behind it.
_CHUNKS_PER_ROUND = 25
_DAY_SECONDS = 86_400.0


class RetentionJob(PeriodicJob):
    """Applies every policy's ``retention_days`` every ``seconds``, and every
    ``backlog_seconds`` while a backlog remains."""

    task_name = "retention"

    def __init__(
        self,
        committer: GroupCommitter,
        catalog: Catalog,
        learners: LearnerRegistry,
        clock: Clock,
        *,
        seconds: float = 60.0,
        backlog_seconds: float,
        leading: Callable[[], bool],
    ) -> None:
        super().__init__(seconds=seconds, leading=leading)
        self._committer = committer
        self._catalog = catalog
        self._learners = learners
        self._clock = clock
        self._backlog_seconds = backlog_seconds
        self._backlog = False

    async def retain(self) -> int:
        """Apply every policy's ``retention_days``; returns how many decisions were deleted.

        At most ``_CHUNKS_PER_ROUND`` chunks per policy; the rest in later rounds.
        """
        deleted = 0
        self._backlog = False
        for name in self._learners.names():
            # The catalog's revision is the one a restart loads: its snapshots set the limit.
            record = self._catalog.policy(name)
            days = record.config.retention_days
            if days is not None:
                before = self._clock() - days * _DAY_SECONDS
                deleted += await self._retain_policy(name, record.revision, before)
        if deleted:
            _log.info("retention deleted %d decisions", deleted)
        return deleted

    async def _retain_policy(self, policy: str, revision: int, before: float) -> int:
        async def chunk(connection: AsyncConnection) -> int:
            return await delete_expired(
                connection, policy=policy, revision=revision, before=before, limit=_CHUNK
            )

        deleted = 0
        for _ in range(_CHUNKS_PER_ROUND):
            done = await self._committer.run(chunk)
            deleted += done
            if done < _CHUNK:
                return deleted
        self._backlog = True
        return deleted

    async def _round(self) -> None:
        await self.retain()

    def _next_delay(self) -> float:
        return self._backlog_seconds if self._backlog else self._seconds
