"""The learning loop inside the server: join closed windows, learn in join order, snapshot.

Each policy's learner is a cache of its logged interactions: it starts from the newest
snapshot of the policy's current revision and catches up from that snapshot's high-water mark.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from bandit.factory import make_policy
from bandit.learner import Learner
from bandit.reward import RewardRule
from bandit.types import Interaction
from features import ARM_NAMESPACES, CONTEXT_NAMESPACES
from storage.feedback import due_windows, join_decision
from storage.learning_log import (
    LearnerStatus,
    Quarantined,
    Snapshot,
    interactions_after,
    latest_snapshot,
    learner_status,
    quarantine,
    save_snapshot,
)
from storage.records import PolicyRecord
from storage.retention import delete_expired
from storage.writer import GroupCommitter

__all__ = ["LearningHost", "PolicyLearner", "build_learner"]

_log = logging.getLogger(__name__)

#: Rows read per query while catching up.
_CHUNK = 1000
#: Closed reward windows joined per transaction.
_JOIN_BATCH = 500
#: A quarantine reason is kept to this many characters (an exception's text is unbounded).
_MAX_REASON_CHARS = 1000
#: How often ``after_step`` runs when no new reward was learned.
_IDLE_CHECK_SECONDS = 10.0
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


@dataclass(slots=True)
class PolicyLearner:
    """One policy's live learner and how far into the reward log it has learned."""

    name: str
    revision: int
    learner: Learner
    high_water_mark: int = 0
    snapshot_learned: int = 0
    snapshot_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: The policy's reward rule: its range also clips rewards joined before rewards were clipped.
    rule: RewardRule = field(default_factory=RewardRule)
    #: Why this policy's last learning round failed, or ``None`` when it succeeded.
    last_error: str | None = None

    @property
    def version(self) -> int:
        """Changes with every learned interaction and every configuration revision."""
        return self.revision + self.learner.learned


def build_learner(record: PolicyRecord, snapshot: Snapshot | None) -> PolicyLearner:
    policy = make_policy(
        record.config.exploration,
        context_namespaces=CONTEXT_NAMESPACES,
        arm_namespaces=ARM_NAMESPACES,
        snapshot=None if snapshot is None else snapshot.data,
    )
    rule = record.config.reward
    if snapshot is None:
        return PolicyLearner(record.name, record.revision, Learner(policy), rule=rule)
    return PolicyLearner(
        record.name,
        record.revision,
        Learner(policy, learned=snapshot.learned_count),
        high_water_mark=snapshot.high_water_mark,
        snapshot_learned=snapshot.learned_count,
        snapshot_at=snapshot.created_at,
        rule=rule,
    )


#: Records a quarantined reward durably; ``catch_up`` without one only skips it (a rebuild).
SetAside = Callable[[Quarantined], Awaitable[None]]


async def catch_up(
    engine: AsyncEngine,
    live: PolicyLearner,
    *,
    set_aside: SetAside | None = None,
    now: float = 0.0,
) -> int:
    """Learn every joined interaction after the high-water mark, in join order; return how
    many were learned. One that cannot be learned is passed to ``set_aside`` and skipped."""
    learned = 0
    async with live.lock:
        while True:
            async with engine.connect() as connection:
                batch = await interactions_after(
                    connection, policy=live.name, after_seq=live.high_water_mark, limit=_CHUNK
                )
            for logged in batch:
                problem = logged.problem
                if logged.interaction is not None:
                    problem = _learn(live, logged.seq, logged.interaction)
                if problem is None:
                    learned += 1
                else:
                    _log.warning("policy %s: quarantined a reward: %s", live.name, problem)
                    if set_aside is not None:
                        reason = problem[:_MAX_REASON_CHARS]
                        await set_aside(Quarantined(live.name, logged.seq, reason, now))
                live.high_water_mark = logged.seq
            if len(batch) < _CHUNK:
                return learned


def _learn(live: PolicyLearner, seq: int, interaction: Interaction) -> str | None:
    """Learn one interaction; the sentence saying why it could not be, or ``None``."""
    clipped = live.rule.clip(interaction.reward)
    if clipped != interaction.reward:
        interaction = dataclasses.replace(interaction, reward=clipped)
    try:
        live.learner.learn(interaction)
    except Exception as error:  # whatever one row does to a policy, the next rows still count
        return f"Reward {seq} failed to learn ({type(error).__name__}: {error})."
    return None


class LearningHost:
    """Owns every policy's learner; runs the join/learn/snapshot loop as one asyncio task."""

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
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock
        self._interval = interval_seconds
        self._snapshot_every = snapshot_every
        self._snapshot_seconds = snapshot_seconds
        self._learners: dict[str, PolicyLearner] = {}
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

    def learner(self, policy: str) -> PolicyLearner:
        return self._learners[policy]

    async def load(self, record: PolicyRecord) -> PolicyLearner:
        """(Re)build ``record``'s learner: newest snapshot of its revision, then the log."""
        async with self._engine.connect() as connection:
            snapshot = await latest_snapshot(
                connection, policy=record.name, revision=record.revision
            )
        live = build_learner(record, snapshot)
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

    async def status(self, policy: str) -> LearnerStatus:
        """How far ``policy``'s learner lags the log, and what it quarantined."""
        live = self._learners[policy]
        async with self._engine.connect() as connection:
            return await learner_status(
                connection, policy=policy, high_water_mark=live.high_water_mark
            )

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

    async def step(self, *, force_snapshot: bool = False) -> None:
        """One round: join closed windows, learn, snapshot what is due.

        ``after_step`` runs when this round learned something, or every
        ``_IDLE_CHECK_SECONDS`` otherwise: its checks read every joined decision of an
        experiment, which is wasted work when nothing new has arrived.
        """
        try:
            await self._join_due_windows()
        except Exception:  # the joins are retried next round; learning what is joined goes on
            _log.exception("joining closed reward windows failed; retrying next round")
        learned = 0
        for live in list(self._learners.values()):
            try:
                learned += await catch_up(
                    self._engine, live, set_aside=self._set_aside, now=self._clock()
                )
                await self._maybe_snapshot(live, force=force_snapshot)
            except Exception as error:  # one policy's failure must not stop the others
                live.last_error = f"{type(error).__name__}: {error}"
                _log.exception("policy %s: learning round failed; retrying next round", live.name)
            else:
                live.last_error = None
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
        fresh = live.learner.learned - live.snapshot_learned
        now = self._clock()
        due = fresh >= self._snapshot_every or (
            fresh > 0 and now - live.snapshot_at >= self._snapshot_seconds
        )
        if fresh == 0 or not (due or force):
            return
        snapshot = Snapshot(
            policy=live.name,
            revision=live.revision,
            learned_count=live.learner.learned,
            high_water_mark=live.high_water_mark,
            data=live.learner.snapshot(),
            created_at=now,
        )

        async def save(connection: AsyncConnection) -> None:
            await save_snapshot(connection, snapshot=snapshot)

        await self._committer.run(save)
        live.snapshot_learned = snapshot.learned_count
        live.snapshot_at = now
