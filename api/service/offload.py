"""Heavy reports (evaluation, drift) run away from the event loop, a bounded number at a time.

A report reads up to 100k decisions and does seconds of CPU-bound Python. In a thread it still
holds the GIL, and the event loop then gets a turn only every switch interval (5 ms), so route
latency grows with every report running. :class:`ProcessRunner` therefore runs each job in a
child process forked from a forkserver that has already imported the job modules (a fork costs
milliseconds; a spawn would re-import numpy and VW for every job). The child opens its own
database connection from the URL, and exits after the job, so the memory a report used goes back
to the operating system instead of staying in the server's heap. Cancelling the awaiting task
(the client went away, or the server shuts down) terminates the child.

:class:`HeavyJobs` bounds how many jobs run at once: beyond ``max_jobs`` a request gets
:class:`~bandit.errors.BusyError` (503 with ``Retry-After``) at once rather than queueing,
because a queue of abandoned reports would keep the CPU busy for callers that have given up.

::

    JobRunner (one method: run(job, *args))
    ├── ProcessRunner   one forkserver child per job; terminated on cancel
    └── ThreadRunner    a worker thread; for in-memory databases and tests
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import pickle
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any, Protocol, TypeVar, cast

from api.service.cpu_priority import yield_the_cpu
from bandit.errors import BusyError

__all__ = ["HeavyJobs", "JobRunner", "ProcessRunner", "ThreadRunner"]

T = TypeVar("T")

#: Modules the forkserver imports once, so each forked job starts with them loaded (and the
#: learning child, :mod:`api.service.learn_worker`, forked from the same server).
PRELOAD = ("api.service.evaluation", "api.service.drift", "api.service.learn_worker")
#: How long a caller told to retry should wait: about one report's run time.
RETRY_AFTER_SECONDS = 10


class JobRunner(Protocol):
    async def run(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(*args)`` (a module-level function, its arguments picklable) elsewhere."""
        ...


class ThreadRunner:
    """Runs the job in a worker thread. Cancelling abandons the result; the thread finishes."""

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(job, *args)


class ProcessRunner:
    """Runs each job in a fresh child process forked from a preloaded forkserver."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(PRELOAD))
        self._children: set[BaseProcess] = set()

    def warm(self) -> None:
        """Start the forkserver now (it imports :data:`PRELOAD` in the background), so the
        first report does not pay for it."""
        from multiprocessing import forkserver

        forkserver.ensure_running()

    @property
    def running(self) -> int:
        return sum(1 for child in self._children if child.is_alive())

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        receiver, sender = self._context.Pipe(duplex=False)
        child = self._context.Process(target=_child_main, args=(sender, job, args), daemon=True)
        self._children.add(child)
        # Starting talks to the forkserver (which may still be importing): not the loop's
        # business. A cancel during the start must still find the child to terminate it.
        starting = asyncio.ensure_future(asyncio.to_thread(child.start))
        try:
            await asyncio.shield(starting)
            sender.close()
            outcome, value = await asyncio.to_thread(_receive, receiver, child)
        except BaseException:
            # Cancelled (client gone, shutdown) or failed: the child must not run on.
            await asyncio.gather(starting, return_exceptions=True)
            if child.pid is not None:
                child.terminate()
            raise
        finally:
            sender.close()
            receiver.close()
            if child.pid is not None:
                await asyncio.to_thread(child.join, 5)
            self._children.discard(child)
        if outcome == "error":
            raise cast(BaseException, value)
        return cast(T, value)

    def close(self) -> None:
        """Terminate every child still running (the server is stopping)."""
        for child in list(self._children):
            if child.pid is not None:
                child.terminate()
                child.join(5)
        self._children.clear()


def _receive(
    receiver: multiprocessing.connection.Connection, child: BaseProcess
) -> tuple[str, object]:
    try:
        message = receiver.recv()
    except EOFError:
        child.join(5)
        raise RuntimeError(
            f"The report's worker process exited with code {child.exitcode} before answering."
        ) from None
    return cast(tuple[str, object], message)


def _child_main(
    sender: multiprocessing.connection.Connection, job: Callable[..., object], args: tuple[Any, ...]
) -> None:
    yield_the_cpu()
    try:
        message: tuple[str, object] = ("ok", job(*args))
    except Exception as error:  # sent back and raised in the parent, which maps it to a status
        message = ("error", error)
    try:
        sender.send(message)
    except (pickle.PicklingError, TypeError, AttributeError):
        kind = type(message[1]).__name__
        sender.send(("error", RuntimeError(f"The report's result ({kind}) could not be pickled.")))
    finally:
        sender.close()


class HeavyJobs:
    """At most ``max_jobs`` heavy reports at once; the runner decides where they run."""

    def __init__(self, runner: JobRunner, *, max_jobs: int) -> None:
        if max_jobs < 1:
            raise ValueError(f"At least one heavy report must be allowed at once, not {max_jobs}.")
        self._runner = runner
        self._max_jobs = max_jobs
        self._running = 0

    @property
    def running(self) -> int:
        return self._running

    async def run(self, what: str, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(*args)`` on the runner, or raise :class:`BusyError` when all slots are taken.

        ``what`` names the report in the error (``"evaluation"``, ``"drift report"``).
        """
        if self._running >= self._max_jobs:
            raise BusyError(
                f"The server is already computing {self._running} heavy reports (its limit is "
                f"{self._max_jobs}), so this {what} was not started; try again in "
                f"{RETRY_AFTER_SECONDS} seconds.",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self._running += 1
        try:
            return await self._runner.run(job, *args)
        finally:
            self._running -= 1
