"""Every policy's live learner in this process, and how a new one goes live.

Each policy's learner is a cache of its logged interactions: it starts from the newest
snapshot of the policy's current revision and catches up from that snapshot's high-water mark.
Rebuilds (a new revision, a void) run off the event loop while the old learner keeps serving,
and go live strictly in revision order. Each learner has one owner at a time: its ``lock`` is
held by whoever learns into it, snapshots it, or replaces it; routing only predicts, between
two awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from api.service.relearn import relearn, relearn_executor
from bandit.budget import BudgetedPolicy, BudgetStatus
from domain import PolicyRecord
from storage.codec import config_to_json
from storage.learning_log import (
    LearnerStatus,
    Quarantined,
    Snapshot,
    count_learnable,
    latest_snapshot,
    learner_status,
    quarantine,
    save_snapshot,
    set_version_base,
    version_base,
)
from storage.writer import GroupCommitter

__all__ = ["LearnerRegistry", "PolicyStatus"]

_log = logging.getLogger(__name__)

#: Rows an in-process rebuild reads, decodes and learns between two turns of the event loop
#: (about 0.4 ms each, mostly decoding): a route waits for at most one such chunk.
_REBUILD_CHUNK = 50


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


class LearnerRegistry:
    """Owns every policy's learner in this process: loads, rebuilds and replaces them."""

    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        clock: Clock,
        *,
        database_url: str | None = None,
        relearn_in_process_max: int = 2000,
    ) -> None:
        """A rebuild with more than ``relearn_in_process_max`` rows to learn runs in a child
        process (it needs ``database_url``); a smaller one on the event loop, in chunks."""
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._clock = clock
        self._database_url = database_url
        self._in_process_max = relearn_in_process_max
        self._executor: ProcessPoolExecutor | None = None
        self._learners: dict[str, PolicyLearner] = {}
        #: Bumped by every rollback and state-changing void of a policy: a rebuild that began
        #: before one may have learned rows since excluded or changed, so it starts again.
        self._generation: dict[str, int] = {}
        #: Rebuilds that ran in a child process (tests check which path a rebuild took).
        self.child_builds = 0

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
        caught_up = await catch_up(self._engine, live, set_aside=self.set_aside, now=self._clock())
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
                await catch_up(self._engine, built, set_aside=self.set_aside, now=self._clock())
                if old is not None:
                    built.version_base = max(
                        built.version_base, old.version + 1 - built.learner.learned
                    )
                await self.save_snapshot(built, self._clock(), store_base=True)
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
    async def owning(self, name: str) -> AsyncIterator[PolicyLearner]:
        """Hold the lock of ``name``'s current learner (not of one replaced while waiting)."""
        while True:
            live = self._learners[name]
            async with live.lock:
                if self._learners.get(name) is live:
                    yield live
                    return

    def live(self) -> Iterator[PolicyLearner]:
        """Every live learner, at this moment."""
        return iter(list(self._learners.values()))

    def names(self) -> list[str]:
        return list(self._learners)

    def restart_rebuilds(self, name: str) -> None:
        """``name``'s log changed under any rebuild in flight (a rollback, a void): each
        such rebuild learns again rather than go live."""
        self._generation[name] = self._generation.get(name, 0) + 1

    def put(self, learner: PolicyLearner) -> None:
        """Make ``learner`` its policy's live learner (the caller owns the one it replaces)."""
        self._learners[learner.name] = learner

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

    async def set_aside(self, entry: Quarantined) -> None:
        async def write(connection: AsyncConnection) -> None:
            await quarantine(connection, entry=entry)

        await self._committer.run(write)

    def problems(self) -> list[str]:
        """The policies whose last learning round failed, as sentences (``/v1/status``)."""
        return [
            f"Policy {live.name!r} failed its last learning round ({live.last_error})."
            for live in self._learners.values()
            if live.last_error is not None
        ]

    async def save_snapshot(self, live: PolicyLearner, now: float, *, store_base: bool) -> None:
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

    def start(self) -> None:
        """Nothing to start: learners are loaded before the service opens."""

    async def close(self) -> None:
        """Stop the rebuilding child process, if one was started."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
