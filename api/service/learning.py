"""The learning loop inside the server: join closed windows, learn in join order, snapshot.

One bad interaction never stops the loop: a joined reward that cannot be learned (a row that
does not make an interaction, or a policy that raises on it) is quarantined - recorded in the
database, so a restart and a rebuild from the log skip it too - and the learner moves on. A
policy whose round fails still lets every other policy learn, and the experiment checks run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.learn_worker import Advance, LearnWorker
from api.service.learners import LearnerRegistry
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from storage.codec import config_to_json
from storage.feedback import due_windows, join_decision
from storage.learning_log import Snapshot
from storage.writer import GroupCommitter

__all__ = ["LearningLoop"]

_log = logging.getLogger(__name__)

#: Closed reward windows joined per transaction.
_JOIN_BATCH = 500
#: How often ``after_round`` runs when no new reward was learned.
_IDLE_CHECK_SECONDS = 10.0
#: The least time between two rounds a wake-up starts. Each round that learned swaps in a
#: serving copy built from the learning child's bytes (a few milliseconds of the loop); at
#: hundreds of feedbacks per second, a round per wake-up spent that many times a second.
_MIN_ROUND_GAP_SECONDS = 0.25


class LearningLoop:
    """Runs the join/learn/snapshot rounds as one asyncio task, woken by feedback."""

    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        learners: LearnerRegistry,
        clock: Clock,
        *,
        interval_seconds: float,
        snapshot_every: int,
        snapshot_seconds: float,
        leading: Callable[[], bool] = lambda: True,
        learn_worker: LearnWorker | None = None,
        after_round: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """``leading`` says whether this process holds the learner role now: only the learner
        joins closed windows, writes snapshots and runs ``after_round`` (the experiment
        checks); every process learns the joined rewards from the log. With ``learn_worker``
        the rounds learn in that child process and the loop only swaps the learned state in;
        without it they learn on the event loop."""
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._learners = learners
        self._clock = clock
        self._interval = interval_seconds
        self._snapshot_every = snapshot_every
        self._snapshot_seconds = snapshot_seconds
        self._leading = leading
        self._worker = learn_worker
        self._after_round = after_round
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._last_after_round = float("-inf")
        #: The last learning round's failure, ``None`` once a round succeeds (``/v1/status``).
        self.last_failure: str | None = None
        #: Rounds never overlap: a ``step`` called while the loop's own round runs (a test,
        #: ``close``) waits for it, so what that round started (an experiment's roll-out) is
        #: done when ``step`` returns.
        self._round = asyncio.Lock()

    @property
    def worker(self) -> LearnWorker | None:
        """The learning child, when the rounds learn in one."""
        return self._worker

    def problems(self) -> list[str]:
        """What keeps learning from working right now, as sentences (``/v1/status``)."""
        found = [] if self.last_failure is None else [self.last_failure]
        return found + self._learners.problems()

    def notify(self) -> None:
        """New rewards may have been joined: learn them soon."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="learning-loop")

    async def close(self) -> None:
        """Stop the loop, learn what is joined, and snapshot every policy.

        The loop is asked to stop with a flag and a wake-up rather than cancelled: on
        Python 3.11 a cancellation that lands as the wait completes can be swallowed
        (bpo-42130), leaving ``close`` waiting a whole learning interval.
        """
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        await self.step(force_snapshot=True)
        if self._worker is not None:
            self._worker.close()

    async def step(self, *, force_snapshot: bool = False) -> None:
        async with self._round:
            await self._step(force_snapshot=force_snapshot)

    async def _step(self, *, force_snapshot: bool = False) -> None:
        """One round: join closed windows, learn, snapshot what is due.

        ``after_round`` runs when this round learned something, or every
        ``_IDLE_CHECK_SECONDS`` otherwise: its checks read every joined decision of an
        experiment, which is wasted work when nothing new has arrived.
        """
        leading = self._leading()
        if leading:
            try:
                await self._join_due_windows()
            except Exception:  # retried next round; learning what is joined goes on
                _log.exception("joining closed reward windows failed; retrying next round")
        learned = 0
        for live in self._learners.live():
            try:
                learned += await self._learn(live)
                if leading:
                    await self._maybe_snapshot(live, force=force_snapshot)
            except Exception as error:  # one policy's failure must not stop the others
                live.last_error = f"{type(error).__name__}: {error}"
                _log.exception("policy %s: learning round failed; retrying next round", live.name)
            else:
                live.last_error = None
        if not leading:
            return
        now = self._clock()
        idle_check_due = now - self._last_after_round >= _IDLE_CHECK_SECONDS
        if self._after_round is not None and (learned or idle_check_due):
            self._last_after_round = now
            try:
                await self._after_round()
            except Exception:  # experiment checks run again next round
                _log.exception("experiment checks failed; retrying next round")

    async def _learn(self, live: PolicyLearner) -> int:
        """Learn what ``live``'s policy joined since its high-water mark; how many were learned."""
        if self._worker is None or live.record is None:
            return await catch_up(
                self._engine, live, set_aside=self._learners.set_aside, now=self._clock()
            )
        # The lock is not held while the child learns: a rebuild, rollback or void waits for
        # nobody. What the child learned goes live only if the learner is still the state it
        # learned from; otherwise it is dropped, and the child is seeded afresh next round.
        seeding = False
        while True:
            async with live.lock:  # the seed and the counts it is sent with: one state
                if live.retired:
                    return 0
                request = Advance(
                    token=live.token,
                    name=live.name,
                    revision=live.revision,
                    config=config_to_json(live.record.config),
                    learned=live.learner.learned,
                    high_water_mark=live.high_water_mark,
                    now=self._clock(),
                    seed=live.learner.snapshot() if seeding else None,
                )
            advanced = await self._worker.advance(request)
            if not advanced.needs_seed:
                break
            seeding = True
        async with live.lock:
            unchanged = (
                live.learner.learned == request.learned
                and live.high_water_mark == request.high_water_mark
            )
            if live.retired or not unchanged or advanced.data is None:
                return 0
            for entry in advanced.quarantined:
                await self._learners.set_aside(entry)
            # The serving copy: built from the child's bytes, swapped in between two routes.
            served = build_learner(
                live.record,
                Snapshot(
                    policy=live.name,
                    revision=live.revision,
                    learned_count=advanced.learned,
                    high_water_mark=advanced.high_water_mark,
                    data=advanced.data,
                    created_at=self._clock(),
                ),
            )
            replaced = live.learner
            live.learner = served.learner
            live.high_water_mark = advanced.high_water_mark
            live.state_bytes = (advanced.learned, advanced.data)
            replaced.close()
            return advanced.learned - request.learned

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            if self._stopping:
                return
            if self._worker is not None:
                # A burst of wake-ups gathers into one round; ``close`` waits this long at most.
                await asyncio.sleep(min(self._interval, _MIN_ROUND_GAP_SECONDS))
                if self._stopping:
                    return
            self._wake.clear()
            try:
                await self.step()
            except Exception as error:  # the loop must outlive one bad round; the log keeps it
                _log.exception("learning round failed; retrying next round")
                self.last_failure = f"The last learning round failed: {error!r}."
            else:
                self.last_failure = None

    async def _join_due_windows(self) -> None:
        catalog = self._catalog
        now = self._clock()

        def join_due(connection: Connection) -> int:
            due = due_windows(connection, now=now, limit=_JOIN_BATCH)
            for decision_id, policy in due:
                join_decision(
                    connection,
                    decision_id=decision_id,
                    policy=policy,
                    rule=catalog.reward_rule(policy),
                    now=now,
                )
            return len(due)

        while await self._committer.run_sync(join_due) == _JOIN_BATCH:
            pass

    async def _maybe_snapshot(self, live: PolicyLearner, *, force: bool) -> None:
        async with live.lock:
            if live.retired or live.stale:
                return
            fresh = live.learner.learned - live.snapshot_learned
            now = self._clock()
            due = fresh >= self._snapshot_every or (
                fresh > 0 and now - live.snapshot_at >= self._snapshot_seconds
            )
            if fresh == 0 or not (due or force):
                return
            await self._learners.save_snapshot(live, now, store_base=False)
