"""Long-lived parts and periodic work: one lifecycle, one shape.

Every long-lived part of the service (the group commit, the learning loop, each periodic job)
is started once the service is assembled and closed in reverse order (``Lifecycle``); the
composition root enters them on one exit stack. Every periodic activity (key refresh, the
learner role, catalog sync, model health, retention, Langfuse polling and queues) is a
``PeriodicJob``: a round every few seconds on its own asyncio task, a failed round reported and
retried on time, and, for work only the learner does, no round while this process follows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

__all__ = ["Lifecycle", "PeriodicJob"]

_log = logging.getLogger(__name__)


class Lifecycle(Protocol):
    """A long-lived part: ``start`` when the service is assembled, ``close`` at shutdown."""

    def start(self) -> None: ...

    async def close(self) -> None: ...


class PeriodicJob:
    """Runs ``_round`` every ``seconds`` on its own asyncio task, from ``start`` to ``close``.

    A round that raises goes to ``_round_failed`` (count it, keep its sentence for the status)
    and the next round runs on time; one that succeeds goes to ``_round_succeeded``. With
    ``leading``, a round runs only while it answers True (this process holds the learner role).
    """

    #: The asyncio task's name, for stack dumps.
    task_name = "periodic-job"

    def __init__(self, *, seconds: float, leading: Callable[[], bool] | None = None) -> None:
        self._seconds = seconds
        self._leading = leading
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.task_name)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        while True:
            if self._leading is None or self._leading():
                try:
                    await self._round()
                except Exception as error:  # the next round runs on time; the status says why
                    self._round_failed(f"{type(error).__name__}: {error}")
                else:
                    self._round_succeeded()
            await asyncio.sleep(self._next_delay())

    async def _round(self) -> None:
        raise NotImplementedError

    def _round_failed(self, error: str) -> None:
        _log.warning("%s: a round failed (%s); retrying next round", self.task_name, error)

    def _round_succeeded(self) -> None:
        """Nothing by default."""

    def _next_delay(self) -> float:
        """Seconds until the next round; a job with a backlog may come back sooner."""
        return self._seconds
