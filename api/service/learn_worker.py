"""Learn in a child process, so the event loop only swaps in what was learned.

VW holds the interpreter lock while it learns, and reading and decoding the log costs more
than the learning itself (about 165 ms and 85 ms per 1,000 rows): on the event loop a burst of
feedback delayed every route queued behind it, and a thread would still take the routes' CPU
under the one lock. So the child keeps a learning copy of each policy, catches it up from the
log with the very code a rebuild uses (:func:`~api.service.live_learner.catch_up`), and hands
back the learned state's bytes; the server builds its serving copy from them (a few
milliseconds) and swaps it in between two routes.

The two copies stay the same state: the child's copy is keyed by a token that names the
server's learner object, its learned count and its high-water mark. Whenever they differ (a
new learner after a rebuild or rollback, a child that crashed and was started again) the child
asks for a seed - the serving copy's own bytes - and learns on from there.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from api.service.live_learner import PolicyLearner, build_learner, catch_up
from domain import PolicyRecord
from storage.codec import config_from_json
from storage.engine import create_engine
from storage.learning_log import Quarantined, Snapshot

__all__ = ["Advance", "Advanced", "LearnWorker"]


@dataclass(frozen=True, slots=True)
class Advance:
    """Learn what policy ``name`` has joined after ``high_water_mark``, from the state the
    server's learner ``token`` holds (``learned`` interactions)."""

    token: str
    name: str
    revision: int
    config: dict[str, Any]
    learned: int
    high_water_mark: int
    now: float
    #: The server's state (``Learner.snapshot()``), sent when the child asked for it.
    seed: bytes | None = None


@dataclass(frozen=True, slots=True)
class Advanced:
    """What the child learned: the state after it, and the rewards it set aside."""

    learned: int
    high_water_mark: int
    #: The learned state's bytes; ``None`` when nothing moved.
    data: bytes | None = None
    quarantined: tuple[Quarantined, ...] = ()
    #: The child does not hold this learner's state: send ``seed``.
    needs_seed: bool = False


@dataclass(slots=True)
class _ChildState:
    """What one learning child keeps between calls: its loop, engine and learners."""

    loop: asyncio.AbstractEventLoop | None = None
    database_url: str = ""
    engine: Any = None
    learners: dict[str, tuple[str, PolicyLearner]] = field(default_factory=dict)


_child = _ChildState()

#: The learning child's niceness: below the routes, but never starved. Under ``SCHED_IDLE``
#: (what a rebuild uses) a busy machine left it importing for minutes, and learning with it.
LEARNING_NICENESS = 10


#: How often the learning child checks that its server is still there.
_SERVER_CHECK_SECONDS = 1.0


def _start_learning_child(server: int) -> None:
    os.nice(LEARNING_NICENESS)
    threading.Thread(
        target=_exit_with_server, args=(server,), name="server-watch", daemon=True
    ).start()


def _exit_with_server(server: int) -> None:
    """A server killed with -9 cannot stop its child: the child would wait for work forever,
    holding a database connection. Its parent is the forkserver, which in turn lives as long
    as any of its children (each holds its liveness pipe), so the child watches the server
    itself, and ends when it is gone."""
    while True:
        time.sleep(_SERVER_CHECK_SECONDS)
        try:
            os.kill(server, 0)
        except ProcessLookupError:
            os._exit(0)


def _advance_in_child(database_url: str, request: Advance) -> Advanced:
    if _child.loop is None:
        _child.loop = asyncio.new_event_loop()
    if _child.engine is None or _child.database_url != database_url:
        _child.engine = create_engine(database_url)
        _child.database_url = database_url
    return _child.loop.run_until_complete(_advance(request))


async def _advance(request: Advance) -> Advanced:
    held = _child.learners.get(request.name)
    live = None if held is None else held[1]
    in_step = (
        held is not None
        and live is not None
        and held[0] == request.token
        and live.learner.learned == request.learned
        and live.high_water_mark == request.high_water_mark
    )
    if not in_step:
        if request.seed is None:
            return Advanced(request.learned, request.high_water_mark, needs_seed=True)
        if live is not None:
            live.retire()
        record = PolicyRecord(
            request.name, request.revision, config_from_json(request.config), 0.0, 0.0
        )
        seed = Snapshot(
            policy=request.name,
            revision=request.revision,
            learned_count=request.learned,
            high_water_mark=request.high_water_mark,
            data=request.seed,
            created_at=request.now,
        )
        live = build_learner(record, seed)
        _child.learners[request.name] = (request.token, live)
    assert live is not None
    quarantined: list[Quarantined] = []

    async def set_aside(entry: Quarantined) -> None:
        quarantined.append(entry)

    before = live.high_water_mark
    await catch_up(_child.engine, live, set_aside=set_aside, now=request.now)
    if live.high_water_mark == before:
        return Advanced(live.learner.learned, before)
    return Advanced(
        live.learner.learned,
        live.high_water_mark,
        live.learner.snapshot(),
        tuple(quarantined),
    )


class LearnWorker:
    """The server's side of the learning child: one process, started on first use, started
    again after a crash (its learners are then seeded anew)."""

    def __init__(self, database_url: str) -> None:
        self._database_url = database_url
        self._executor: ProcessPoolExecutor | None = None

    async def advance(self, request: Advance) -> Advanced:
        if self._executor is None:
            # Forked from the forkserver the heavy reports use (it has VW and numpy imported
            # already: a spawn re-imported them for a second or two of CPU), never from the
            # server itself, whose database drivers run threads a fork would copy mid-operation.
            self._executor = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_learning_child,
                initargs=(os.getpid(),),
            )
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, _advance_in_child, self._database_url, request
            )
        except BrokenProcessPool:
            # The child died (killed, out of memory): the next round starts a new one.
            self.close()
            raise

    async def pid(self) -> int | None:
        """The learning child's process id; ``None`` before it started."""
        if self._executor is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(self._executor, os.getpid)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
