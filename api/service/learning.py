"""The learning loop inside the server: join closed windows, learn in join order, snapshot.

Each policy's learner is a cache of its logged interactions: it starts from the newest
snapshot of the policy's current revision and catches up from that snapshot's high-water mark.
Rebuilds (a new revision, a void) run off the event loop while the old learner keeps serving,
and go live strictly in revision order; a rollback swaps in a stored snapshot.

One bad interaction never stops the loop: a joined reward that cannot be learned (a row that
does not make an interaction, or a policy that raises on it) is quarantined - recorded in the
database, so a restart and a rebuild from the log skip it too - and the learner moves on. A
policy whose round fails still lets every other policy learn, and the experiment checks run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.learn_worker import Advance, LearnWorker
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from api.service.relearn import relearn, relearn_executor
from bandit.budget import BudgetedPolicy, BudgetStatus
from bandit.errors import ConflictError, NotFoundError
from domain import PolicyRecord
from storage.audit import record_audit
from storage.codec import config_to_json
from storage.feedback import VoidOutcome, due_windows, feedback_policy, join_decision, void_feedback
from storage.learning_log import (
    LearnerStatus,
    Quarantined,
    Snapshot,
    SnapshotInfo,
    count_learnable,
    discard_snapshots,
    exclude_interactions,
    find_snapshot,
    latest_snapshot,
    learner_status,
    list_snapshots,
    quarantine,
    save_snapshot,
    set_version_base,
    version_base,
)
from storage.retention import delete_expired
from storage.writer import GroupCommitter

__all__ = ["LearningHost", "PolicyLearner", "PolicyStatus", "build_learner", "catch_up"]

_log = logging.getLogger(__name__)

#: Closed reward windows joined per transaction.
_JOIN_BATCH = 500
#: How often ``after_step`` runs when no new reward was learned.
_IDLE_CHECK_SECONDS = 10.0
#: Rows an in-process rebuild reads, decodes and learns between two turns of the event loop
#: (about 0.4 ms each, mostly decoding): a route waits for at most one such chunk.
_REBUILD_CHUNK = 50
#: Expired decisions deleted per transaction: small, so routing writes queued behind one
#: chunk in the group commit wait milliseconds, not the whole clean-up.
_RETENTION_CHUNK = 200
#: Chunks per policy per round: a large backlog is worked off over several rounds, so
#: learning is never held up for long behind it.
_RETENTION_CHUNKS_PER_ROUND = 25
#: How often the learning loop applies the policies' ``retention_days`` (every round while a
#: backlog remains).
_RETENTION_EVERY_SECONDS = 60.0
_DAY_SECONDS = 86_400.0
#: The least time between two rounds a wake-up starts. Each round that learned swaps in a
#: serving copy built from the learning child's bytes (a few milliseconds of the loop); at
#: hundreds of feedbacks per second, a round per wake-up spent that many times a second.
_MIN_ROUND_GAP_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class PolicyStatus:
    """One policy's learner at one moment, and its log behind it (``LearnerStatus``)."""

    version: int
    learned: int
    high_water_mark: int
    snapshot_learned: int
    last_error: str | None
    log: LearnerStatus
    #: A budgeted policy's controller: its cost weight and the spend it observed.
    budget: BudgetStatus | None = None


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
        leading: Callable[[], bool] = lambda: True,
        learn_worker: LearnWorker | None = None,
    ) -> None:
        """``leading`` says whether this process holds the learner role now: only the learner
        joins closed windows, writes snapshots and runs ``after_step`` and retention; every
        process learns the joined rewards from the log. With ``learn_worker`` the rounds learn
        in that child process and the loop only swaps the learned state in; without it they
        learn on the event loop."""
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock
        self._interval = interval_seconds
        self._snapshot_every = snapshot_every
        self._snapshot_seconds = snapshot_seconds
        self._database_url = database_url
        self._in_process_max = relearn_in_process_max
        self._leading = leading
        self._worker = learn_worker
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
        #: The last learning round's failure, ``None`` once a round succeeds (``/v1/status``).
        self.last_failure: str | None = None
        self._last_retention = float("-inf")
        self._retention_backlog = False
        #: Rounds never overlap: a ``step`` called while the loop's own round runs (a test,
        #: ``close``) waits for it, so what that round started (an experiment's roll-out) is
        #: done when ``step`` returns.
        self._round = asyncio.Lock()

    def learner(self, policy: str) -> PolicyLearner:
        return self._learners[policy]

    @property
    def worker(self) -> LearnWorker | None:
        """The learning child, when the rounds learn in one."""
        return self._worker

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
        caught_up = await catch_up(self._engine, live, set_aside=self._set_aside, now=self._clock())
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
                await catch_up(self._engine, built, set_aside=self._set_aside, now=self._clock())
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
                    self._catalog.set_policy(record)
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

    async def rollback(self, name: str, version: int, *, actor: str = "service") -> PolicyLearner:
        """Make stored version ``version`` live again, for good (``actor``: the key id, audited).

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
                await record_audit(
                    connection,
                    key_id=actor,
                    action="policy.rollback",
                    target=name,
                    before={"version": live.version, "learned_count": live.learner.learned},
                    after={
                        "version": new_version,
                        "restored_version": version,
                        "learned_count": target.learned_count,
                        "excluded_interactions": excluded,
                    },
                    at=now,
                )
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
        await catch_up(self._engine, new, set_aside=self._set_aside, now=self._clock())
        return new

    async def feedback_policy(self, feedback_id: str) -> str:
        """The policy a feedback's decision belongs to (404 when there is no such feedback)."""
        async with self._engine.connect() as connection:
            return await feedback_policy(connection, feedback_id=feedback_id)

    async def void(self, feedback_id: str, reason: str, *, actor: str = "service") -> VoidResult:
        """Void one feedback; when that changed a learned reward, rebuild the learner.
        ``actor`` (the key id) is recorded in the audit log with the void."""
        name = await self.feedback_policy(feedback_id)
        rule = self._catalog.reward_rule(name)
        async with self._owning(name) as live:
            now = self._clock()
            through = live.high_water_mark
            jump_from = live.version

            async def store(connection: AsyncConnection) -> tuple[VoidOutcome, bool]:
                outcome = await connection.run_sync(
                    lambda sync: void_feedback(
                        sync, feedback_id=feedback_id, reason=reason, rule=rule, now=now
                    )
                )
                if outcome.newly_voided:
                    await record_audit(
                        connection,
                        key_id=actor,
                        action="feedback.void",
                        target=feedback_id,
                        before={"voided_at": None},
                        after={"voided_at": now, "reason": reason, "policy": name},
                        at=now,
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

    async def status(self, policy: str) -> PolicyStatus:
        """``policy``'s learner: what it learned, how far it lags the log, what it set aside.

        The learner's figures are read before the query and the lag is counted from them, so
        the answer is one consistent moment even while the loop keeps learning.
        """
        live = self._learners[policy]
        learned = PolicyStatus(
            version=live.version,
            learned=live.learner.learned,
            high_water_mark=live.high_water_mark,
            snapshot_learned=live.snapshot_learned,
            last_error=live.last_error,
            log=LearnerStatus(lag=0, quarantined=0, last_reason=None),
            budget=live.learner.policy.status()
            if isinstance(live.learner.policy, BudgetedPolicy)
            else None,
        )
        async with self._engine.connect() as connection:
            log = await learner_status(
                connection, policy=policy, high_water_mark=learned.high_water_mark
            )
        return dataclasses.replace(learned, log=log)

    async def _set_aside(self, entry: Quarantined) -> None:
        async def write(connection: AsyncConnection) -> None:
            await quarantine(connection, entry=entry)

        await self._committer.run(write)

    def problems(self) -> list[str]:
        """What keeps learning from working right now, as sentences (``/v1/status``)."""
        found = [] if self.last_failure is None else [self.last_failure]
        found += [
            f"Policy {live.name!r} failed its last learning round ({live.last_error})."
            for live in self._learners.values()
            if live.last_error is not None
        ]
        return found

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
        if self._worker is not None:
            self._worker.close()

    async def step(self, *, force_snapshot: bool = False) -> None:
        async with self._round:
            await self._step(force_snapshot=force_snapshot)

    async def _step(self, *, force_snapshot: bool = False) -> None:
        """One round: join closed windows, learn, snapshot what is due.

        ``after_step`` runs when this round learned something, or every
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
        for live in list(self._learners.values()):
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
        idle_check_due = now - self._last_after_step >= _IDLE_CHECK_SECONDS
        if self.after_step is not None and (learned or idle_check_due):
            self._last_after_step = now
            try:
                await self.after_step()
            except Exception:  # experiment checks run again next round
                _log.exception("experiment checks failed; retrying next round")
        if self._retention_backlog or now - self._last_retention >= _RETENTION_EVERY_SECONDS:
            self._last_retention = now
            await self.retain()

    async def _learn(self, live: PolicyLearner) -> int:
        """Learn what ``live``'s policy joined since its high-water mark; how many were learned."""
        if self._worker is None or live.record is None:
            return await catch_up(self._engine, live, set_aside=self._set_aside, now=self._clock())
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
                await self._set_aside(entry)
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

    async def retain(self) -> int:
        """Apply every policy's ``retention_days``; returns how many decisions were deleted.

        At most ``_RETENTION_CHUNKS_PER_ROUND`` chunks per policy; the rest in later rounds.

        Deletes in small transactions through the group commit, never a decision the newest
        snapshot does not include (see :mod:`storage.retention`), so a restart still resumes
        to the same learner.
        """
        deleted = 0
        self._retention_backlog = False
        for name in list(self._learners):
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
                connection, policy=policy, revision=revision, before=before, limit=_RETENTION_CHUNK
            )

        deleted = 0
        for _ in range(_RETENTION_CHUNKS_PER_ROUND):
            done = await self._committer.run(chunk)
            deleted += done
            if done < _RETENTION_CHUNK:
                return deleted
        self._retention_backlog = True
        return deleted

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
            await self._save_snapshot(live, now, store_base=False)

    async def _save_snapshot(self, live: PolicyLearner, now: float, *, store_base: bool) -> None:
        """Store ``live``'s state with its version (and its version base, after a jump)."""
        snapshot = Snapshot(
            policy=live.name,
            revision=live.revision,
            learned_count=live.learner.learned,
            high_water_mark=live.high_water_mark,
            data=live.state_bytes[1]
            if live.state_bytes is not None and live.state_bytes[0] == live.learner.learned
            else live.learner.snapshot(),
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
