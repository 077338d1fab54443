"""Group commit: many small writes share one transaction and one fsync.

Callers hand an operation to the committer and get its result only after the transaction
holding it has committed. Operations must validate (and raise domain errors) before they
write, and have no effect outside the database: a batch that fails as a whole is rolled back
and its operations are re-run one transaction each, so one bad operation never takes its
neighbours down with it.

Two kinds of operation:

- ``run_sync``: a plain function of a synchronous connection. The hot paths' writes (a route's
  decision, a feedback and its join) are these. On SQLite the committer runs them in its own
  thread on its own connection, a whole batch per hand-off: each statement through the async
  driver was several hops between the event loop and the driver's thread, and those hops
  were most of what a feedback cost. On PostgreSQL they run on the event loop's connection
  (asyncpg has no thread to hop to).
- ``run``: an async function of an ``AsyncConnection``, for everything else.

Plain row inserts (``insert``) are grouped further: the inserts into one table that share a
batch go to the database as one multi-row statement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bandit.errors import RouterError
from storage import _sql

__all__ = ["GroupCommitter", "Operation", "SyncOperation"]

T = TypeVar("T")
Operation = Callable[[AsyncConnection], Awaitable[T]]
SyncOperation = Callable[[Connection], T]


@dataclass(slots=True)
class _Job:
    operation: Operation[Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _SyncJob:
    operation: SyncOperation[Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Insert:
    table: Table
    values: dict[str, Any]
    future: asyncio.Future[Any]
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> object:
        return self.values[_sql.key_column(self.table).name]


_Queued = _Job | _SyncJob | _Insert
_Plain = _SyncJob | _Insert


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class GroupCommitter:
    """The single writer of one engine. Start it, run operations, then ``close`` it.

    ``writer_engine``: a synchronous engine on the same SQLite file, whose one connection the
    committer's thread owns; ``None`` runs plain operations on ``engine`` (PostgreSQL).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        writer_engine: Engine | None = None,
        max_batch: int = 256,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        self._engine = engine
        self._writer_engine = writer_engine
        self._thread = (
            None
            if writer_engine is None
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="group-commit")
        )
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: Transactions committed and operations run, for tests and metrics.
        self.transactions = 0
        self.operations = 0
        #: Told how long each operation waited before it began (seconds): in the queue, then
        #: behind the operations ahead of it in its batch. Load shedding watches it.
        self.on_wait = on_wait

    def start(self) -> None:
        self._task = asyncio.create_task(self._drain(), name="group-commit")

    async def close(self) -> None:
        """Finish every queued operation, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._writer_engine is not None:
            self._writer_engine.dispose()

    async def run(self, operation: Operation[T]) -> T:
        """Run an async ``operation`` in the next batch; its result once committed."""
        return await self._enqueue(lambda future: _Job(operation, future))  # type: ignore[no-any-return]

    async def run_sync(self, operation: SyncOperation[T]) -> T:
        """Run a plain ``operation`` in the next batch, in the writer's thread on SQLite; its
        result once committed. It must touch nothing but its connection."""
        return await self._enqueue(lambda future: _SyncJob(operation, future))  # type: ignore[no-any-return]

    async def insert(self, table: Table, values: dict[str, Any]) -> bool:
        """Insert one row into ``table`` unless a row with its key exists; True when this call
        inserted it. ``table`` has a one-column primary key, which ``values`` sets."""
        return bool(await self._enqueue(lambda future: _Insert(table, values, future)))

    async def _enqueue(self, job: Callable[[asyncio.Future[Any]], _Queued]) -> Any:
        if self._task is None or self._task.done():
            raise RuntimeError("The group committer is not running.")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put(job(future))
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
            plain = [job for job in batch if not isinstance(job, _Job)]
            if plain:
                await self._commit_plain(plain)
            other = [job for job in batch if isinstance(job, _Job)]
            if other:
                await self._commit(other)
            self.operations += len(batch)

    # Plain operations and inserts: one transaction, in the writer's thread on SQLite.

    async def _commit_plain(self, batch: list[_Plain]) -> None:
        self._waited(batch)
        try:
            results = await self._plain(_run_plain_batch, batch)
        except Exception:
            results = []
            for job in batch:
                try:
                    results.append(await self._plain(_run_plain_alone, job))
                except Exception as error:  # rolled back: it wrote nothing
                    results.append(_Failed(error))
        _settle(batch, results)

    async def _plain(self, work: Callable[[Connection, Any], T], argument: Any) -> T:
        """``work(connection, argument)`` in one committed transaction."""
        if self._writer_engine is None or self._thread is None:
            async with self._engine.begin() as connection:
                result = await connection.run_sync(work, argument)
        else:
            engine = self._writer_engine

            def in_thread() -> T:
                with engine.begin() as connection:
                    return work(connection, argument)

            result = await asyncio.get_running_loop().run_in_executor(self._thread, in_thread)
        self.transactions += 1
        return result

    # Async operations: one transaction on the event loop.

    async def _commit(self, batch: list[_Job]) -> None:
        try:
            results = await self._run_in_one_transaction(batch)
        except Exception:
            results = [await self._run_alone(job) for job in batch]
        _settle(batch, results)

    async def _run_in_one_transaction(self, batch: list[_Job]) -> list[Any]:
        results: list[Any] = []
        async with self._engine.begin() as connection:
            for job in batch:
                self._waited([job])
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

    def _waited(self, jobs: list[_Job] | list[_Plain]) -> None:
        if self.on_wait is not None:
            now = time.monotonic()
            for job in jobs:
                self.on_wait(now - job.queued_at)


def _run_plain_batch(connection: Connection, batch: list[_Plain]) -> list[Any]:
    """Every plain job of ``batch`` on ``connection``; a domain error fails only its job."""
    results: list[Any] = [None] * len(batch)
    inserts: dict[Table, list[int]] = {}
    for index, job in enumerate(batch):
        if isinstance(job, _Insert):
            inserts.setdefault(job.table, []).append(index)
    # The batch's jobs were all in flight at once, so any order of them is one their callers
    # could have seen: the grouped inserts go first.
    for table, indexes in inserts.items():
        rows = [job for job in (batch[index] for index in indexes) if isinstance(job, _Insert)]
        inserted = _sql.insert_rows_unless_exist(connection, table, [row.values for row in rows])
        for index, row in zip(indexes, rows, strict=True):
            # Two rows with one key: the statement kept the first, as if it were alone.
            results[index] = row.key in inserted
            inserted.discard(row.key)
    for index, job in enumerate(batch):
        if isinstance(job, _SyncJob):
            try:
                results[index] = job.operation(connection)
            except RouterError as error:  # raised before the operation wrote
                results[index] = _Failed(error)
    return results


def _run_plain_alone(connection: Connection, job: _Plain) -> Any:
    if isinstance(job, _Insert):
        return job.key in _sql.insert_rows_unless_exist(connection, job.table, [job.values])
    return job.operation(connection)


def _settle(batch: list[_Job] | list[_Plain], results: list[Any]) -> None:
    for job, result in zip(batch, results, strict=True):
        if job.future.done():  # the caller went away (cancelled request)
            continue
        if isinstance(result, _Failed):
            job.future.set_exception(result.error)
        else:
            job.future.set_result(result)
