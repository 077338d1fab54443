"""Group commit: many small writes share one transaction and one fsync.

Callers hand an operation (an async function of a connection) to ``GroupCommitter.run`` and
get its result only after the transaction holding it has committed. Operations must validate
(and raise domain errors) before they write, and have no effect outside the database: a batch
that fails as a whole is rolled back and its operations are re-run one transaction each, so
one bad operation never takes its neighbours down with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bandit.errors import RouterError

__all__ = ["GroupCommitter", "Operation"]

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]


@dataclass(slots=True)
class _Job:
    operation: Operation[Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class GroupCommitter:
    """The single writer of one engine. Start it, ``run`` operations, then ``close`` it."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: Transactions committed and operations run, for tests and metrics.
        self.transactions = 0
        self.operations = 0
        #: Told how long each operation waited before it began (seconds): in the queue, then
        #: behind the operations ahead of it in its batch. Load shedding watches it.
        self.on_wait: Callable[[float], None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="group-commit")

    async def close(self) -> None:
        """Finish every queued operation, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None

    async def run(self, operation: Operation[T]) -> T:
        if self._task is None or self._task.done():
            raise RuntimeError("The group committer is not running.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(operation, future))
        return await future

    async def _drain(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                job = self._queue.get_nowait()
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            await self._commit(batch)
            self.operations += len(batch)

    async def _commit(self, batch: list[_Job]) -> None:
        try:
            results = await self._run_in_one_transaction(batch)
        except Exception:
            if len(batch) == 1:
                results = [await self._run_alone(batch[0])]
            else:
                results = [await self._run_alone(job) for job in batch]
        for job, result in zip(batch, results, strict=True):
            if job.future.done():  # the caller went away (cancelled request)
                continue
            if isinstance(result, _Failed):
                job.future.set_exception(result.error)
            else:
                job.future.set_result(result)

    async def _run_in_one_transaction(self, batch: list[_Job]) -> list[Any]:
        results: list[Any] = []
        async with self._engine.begin() as connection:
            for job in batch:
                if self.on_wait is not None:
                    self.on_wait(time.monotonic() - job.queued_at)
                try:
                    results.append(await job.operation(connection))
                except Exception as error:  # a domain error raised before the op wrote
                    if not isinstance(error, RouterError):
                        raise
                    results.append(_Failed(error))
        self.transactions += 1
        return results

    async def _run_alone(self, job: _Job) -> Any:
        try:
            async with self._engine.begin() as connection:
                result = await job.operation(connection)
            self.transactions += 1
            return result
        except Exception as error:
            return _Failed(error)
