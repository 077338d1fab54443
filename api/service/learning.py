"""The learning loop inside the server: join closed windows, learn in join order, snapshot.

Each policy's learner is a cache of its logged interactions: it starts from the newest
snapshot of the policy's current revision and catches up from that snapshot's high-water mark.
Rebuilds (a new revision, a void) run off the event loop while the old learner keeps serving,
and go live strictly in revision order; a rollback swaps in a stored snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from api.service.relearn import relearn, relearn_executor
from bandit.errors import ConflictError, NotFoundError
from storage.codec import config_to_json
from storage.feedback import VoidOutcome, due_windows, feedback_policy, join_decision, void_feedback
from storage.learning_log import (
    Snapshot,
    SnapshotInfo,
    count_learnable,
    discard_snapshots,
    exclude_interactions,
    find_snapshot,
    latest_snapshot,
    list_snapshots,
    save_snapshot,
    set_version_base,
    version_base,
)
from storage.records import PolicyRecord
from storage.writer import GroupCommitter

__all__ = ["LearningHost", "PolicyLearner", "build_learner", "catch_up"]

_log = logging.getLogger(__name__)

#: Closed reward windows joined per transaction.
_JOIN_BATCH = 500
#: How often ``after_step`` runs when no new reward was learned.
_IDLE_CHECK_SECONDS = 10.0
#: Rows an in-process rebuild reads, decodes and learns between two turns of the event loop
#: (about 0.4 ms each, mostly decoding): a route waits for at most one such chunk.
_REBUILD_CHUNK = 50


@dataclass(frozen=True, slots=True)
class VoidResult:
    outcome: VoidOutcome
    #: The live version once the void is in force (after its rebuild, when it needed one).
    version: int
    rebuilt: bool


class LearningHost:
    """Owns every policy's learner; runs the join/learn/snapshot loop as one asyncio task.

    Each learner has one owner at a time: its ``lock`` is held by whoever learns into it,
    snapshots it, or replaces it. Routing only predicts, between two awaits.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        clock: Clock,
        *,
        interval_seconds: float,
        snapshot_every: int,
        snapshot_seconds: float,
        database_url: str | None = None,
        relearn_in_process_max: int = 2000,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock
        self._interval = interval_seconds
        self._snapshot_every = snapshot_every
        self._snapshot_seconds = snapshot_seconds
        self._database_url = database_url
        self._in_process_max = relearn_in_process_max
        self._executor: ProcessPoolExecutor | None = None
        self._learners: dict[str, PolicyLearner] = {}
        #: Bumped by every rollback and state-changing void of a policy: a rebuild that began
        #: before one may have learned rows since excluded or changed, so it starts again.
        self._generation: dict[str, int] = {}
        #: Rebuilds that ran in a child process (tests check which path a rebuild took).
        self.child_builds = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        #: Runs after a round that learned something (experiment checks); see ``step``.
        self.after_step: Callable[[], Awaitable[None]] | None = None
        self._last_after_step = float("-inf")

    def learner(self, policy: str) -> PolicyLearner:
        return self._learners[policy]

    def current(self, policy: str) -> PolicyLearner | None:
        return self._learners.get(policy)

    async def load(self, record: PolicyRecord) -> PolicyLearner:
        """Build ``record``'s learner at start-up: newest snapshot of its revision, then the log."""
        async with self._engine.connect() as connection:
            snapshot = await latest_snapshot(
                connection, policy=record.name, revision=record.revision
            )
            base = await version_base(connection, policy=record.name)
        live = build_learner(record, snapshot, version_base=base)
        live.snapshot_at = live.snapshot_at or self._clock()
        caught_up = await catch_up(self._engine, live)
        _log.info(
            "policy %s revision %d: loaded %s, caught up %d interactions",
            record.name,
            record.revision,
            "no snapshot" if snapshot is None else f"snapshot at {snapshot.learned_count}",
            caught_up,
        )
        self._learners[record.name] = live
        return live

    async def rebuild(self, record: PolicyRecord) -> PolicyLearner:
        """Rebuild ``record``'s learner off the event loop; return the learner live afterwards.

        The old learner keeps serving meanwhile. Revisions go live in order: a build finishing
        after a newer revision went live is dropped, so a later PUT always wins.
        """
        name = record.name
        while True:
            generation = self._generation.get(name, 0)
            current = self._learners.get(name)
            if current is not None and current.revision > record.revision:
                return current
            built = await self._build(record)
            live = await self._go_live(record, built, generation)
            if live is not None:
                return live
            # A rollback or void changed the log under the build: learn it again.

    async def _build(self, record: PolicyRecord) -> PolicyLearner:
        async with self._engine.connect() as connection:
            snapshot = await latest_snapshot(
                connection, policy=record.name, revision=record.revision
            )
            base = await version_base(connection, policy=record.name)
            pending = await count_learnable(connection, policy=record.name)
        pending -= 0 if snapshot is None else snapshot.learned_count
        if self._database_url is not None and pending > self._in_process_max:
            # VW learning holds the GIL: only another process keeps routing fast meanwhile.
            if self._executor is None:
                self._executor = relearn_executor()
            state = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                relearn,
                self._database_url,
                record.name,
                record.revision,
                config_to_json(record.config),
            )
            self.child_builds += 1
            snapshot = Snapshot(
                policy=record.name,
                revision=record.revision,
                learned_count=state.learned_count,
                high_water_mark=state.high_water_mark,
                data=state.data,
                created_at=self._clock(),
            )
        built = build_learner(record, snapshot, version_base=base)
        await catch_up(self._engine, built, chunk=_REBUILD_CHUNK)
        return built

    async def _go_live(
        self, record: PolicyRecord, built: PolicyLearner, generation: int
    ) -> PolicyLearner | None:
        """Swap ``built`` in with a version above every one served; None when it is outdated."""
        name = record.name
        while True:
            old = self._learners.get(name)
            if old is not None and old.revision > record.revision:
                built.retire()
                return old
            async with old.lock if old is not None else asyncio.Lock():
                if old is not None and self._learners.get(name) is not old:
                    continue  # another rebuild went live while this one waited
                if self._generation.get(name, 0) != generation:
                    built.retire()
                    return None
                await catch_up(self._engine, built)
                if old is not None:
                    built.version_base = max(
                        built.version_base, old.version + 1 - built.learner.learned
                    )
                await self._save_snapshot(built, self._clock(), store_base=True)
                if self._learners.get(name) is not old:
                    # Only a brand-new policy has no lock to hold: a concurrent first build
                    # went live meanwhile. Go round again, against it.
                    continue
                self._learners[name] = built
                stored = self._catalog.policies.get(name)
                if stored is None or stored.revision <= record.revision:
                    self._catalog.policies[name] = record
                if old is not None:
                    old.retire()
                _log.info(
                    "policy %s revision %d is live at version %d (%d interactions)",
                    name,
                    record.revision,
                    built.version,
                    built.learner.learned,
                )
                return built

    @contextlib.asynccontextmanager
    async def _owning(self, name: str) -> AsyncIterator[PolicyLearner]:
        """Hold the lock of ``name``'s current learner (not of one replaced while waiting)."""
        while True:
            live = self._learners[name]
            async with live.lock:
                if self._learners.get(name) is live:
                    yield live
                    return

    async def versions(self, name: str) -> list[SnapshotInfo]:
        """The stored snapshots of policy ``name``, newest first."""
        self._catalog.policy(name)  # unknown policy: NotFoundError
        async with self._engine.connect() as connection:
            return await list_snapshots(connection, policy=name)

    async def rollback(self, name: str, version: int) -> PolicyLearner:
        """Make stored version ``version`` live again, for good.

        The interactions learned after it are excluded in the log, so neither this learner nor
        any rebuild learns them again; the restored state gets a new, larger version.
        """
        record = self._catalog.policy(name)
        async with self._owning(name) as live:
            async with self._engine.connect() as connection:
                target = await find_snapshot(connection, policy=name, version=version)
            if target is None:
                raise NotFoundError(
                    f"Policy {name!r} has no stored version {version}: "
                    f"GET /v1/policies/{name}/versions lists the versions it can return to."
                )
            if target.revision != live.revision or record.revision != live.revision:
                raise ConflictError(
                    f"Version {version} of policy {name!r} was learned under revision "
                    f"{target.revision}, but the policy is at revision {record.revision}: "
                    "only versions of the current revision can be restored."
                )
            self._generation[name] = self._generation.get(name, 0) + 1
            now = self._clock()
            new_version = live.version + 1
            base = new_version - target.learned_count
            restored = Snapshot(
                policy=name,
                revision=live.revision,
                learned_count=target.learned_count,
                # The rows in between are excluded: this state includes all the rest up to here.
                high_water_mark=live.high_water_mark,
                data=target.data,
                created_at=now,
                version=new_version,
            )
            reason = f"Rolled back from version {live.version} to version {version}."
            through = live.high_water_mark

            async def store(connection: AsyncConnection) -> int:
                excluded = await exclude_interactions(
                    connection,
                    policy=name,
                    after_seq=target.high_water_mark,
                    through_seq=through,
                    reason=reason,
                    now=now,
                )
                await save_snapshot(connection, snapshot=restored)
                await set_version_base(connection, policy=name, base=base)
                return excluded

            excluded = await self._committer.run(store)
            new = build_learner(record, restored, version_base=base)
            new.snapshot_at = now
            self._learners[name] = new
            live.retire()
        _log.info(
            "policy %s rolled back to version %d as version %d; %d interactions excluded",
            name,
            version,
            new_version,
            excluded,
        )
        await catch_up(self._engine, new)
        return new

    async def void(self, feedback_id: str, reason: str) -> VoidResult:
        """Void one feedback; when that changed a learned reward, rebuild the learner."""
        async with self._engine.connect() as connection:
            name = await feedback_policy(connection, feedback_id=feedback_id)
        rule = self._catalog.reward_rule(name)
        async with self._owning(name) as live:
            now = self._clock()
            through = live.high_water_mark
            jump_from = live.version

            async def store(connection: AsyncConnection) -> tuple[VoidOutcome, bool]:
                outcome = await void_feedback(
                    connection, feedback_id=feedback_id, reason=reason, rule=rule, now=now
                )
                learned = outcome.changed_seq is not None and outcome.changed_seq <= through
                if learned:
                    assert outcome.changed_seq is not None
                    await discard_snapshots(connection, policy=name, from_seq=outcome.changed_seq)
                    # Stored with the void, so a restart before the rebuild goes live cannot
                    # serve a changed state under a version already served.
                    count = await count_learnable(connection, policy=name, through_seq=through)
                    await set_version_base(connection, policy=name, base=jump_from + 1 - count)
                return outcome, learned

            outcome, learned = await self._committer.run(store)
            if learned:
                live.stale = True
                self._generation[name] = self._generation.get(name, 0) + 1
        if learned:
            _log.info("feedback %s voided: rebuilding policy %s", feedback_id, name)
            await self.rebuild(self._catalog.policy(name))
        return VoidResult(outcome, self._learners[name].version, learned)

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
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def step(self, *, force_snapshot: bool = False) -> None:
        """One round: join closed windows, learn, snapshot what is due.

        ``after_step`` runs when this round learned something, or every
        ``_IDLE_CHECK_SECONDS`` otherwise: its checks read every joined decision of an
        experiment, which is wasted work when nothing new has arrived.
        """
        await self._join_due_windows()
        learned = 0
        for live in list(self._learners.values()):
            learned += await catch_up(self._engine, live)
            await self._maybe_snapshot(live, force=force_snapshot)
        now = self._clock()
        idle_check_due = now - self._last_after_step >= _IDLE_CHECK_SECONDS
        if self.after_step is not None and (learned or idle_check_due):
            self._last_after_step = now
            await self.after_step()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            try:
                await self.step()
            except Exception:  # the loop must outlive one bad round; the log keeps the work
                _log.exception("learning round failed; retrying next round")

    async def _join_due_windows(self) -> None:
        catalog = self._catalog
        now = self._clock()

        async def join_due(connection: AsyncConnection) -> int:
            due = await due_windows(connection, now=now, limit=_JOIN_BATCH)
            for decision_id, policy in due:
                await join_decision(
                    connection,
                    decision_id=decision_id,
                    policy=policy,
                    rule=catalog.reward_rule(policy),
                    now=now,
                )
            return len(due)

        while await self._committer.run(join_due) == _JOIN_BATCH:
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
            await self._save_snapshot(live, now, store_base=False)

    async def _save_snapshot(self, live: PolicyLearner, now: float, *, store_base: bool) -> None:
        """Store ``live``'s state with its version (and its version base, after a jump)."""
        snapshot = Snapshot(
            policy=live.name,
            revision=live.revision,
            learned_count=live.learner.learned,
            high_water_mark=live.high_water_mark,
            data=live.learner.snapshot(),
            created_at=now,
            version=live.version,
        )
        base = live.version_base

        async def save(connection: AsyncConnection) -> None:
            await save_snapshot(connection, snapshot=snapshot)
            if store_base:
                await set_version_base(connection, policy=live.name, base=base)

        await self._committer.run(save)
        live.snapshot_learned = snapshot.learned_count
        live.snapshot_at = now
