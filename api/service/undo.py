"""Undo: return a policy to a stored version, or void one feedback (rebuilding when it was
learned). Both change the log under the live learner, so both hold its lock and make any
rebuild in flight learn again."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.learners import LearnerRegistry
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from bandit.errors import ConflictError, NotFoundError
from domain import PolicyRecord
from storage.audit import record_audit
from storage.feedback import VoidOutcome, feedback_policy, void_feedback
from storage.learning_log import (
    Snapshot,
    SnapshotInfo,
    count_learnable,
    discard_snapshots,
    exclude_interactions,
    find_snapshot,
    list_snapshots,
    save_snapshot,
    set_version_base,
)
from storage.writer import GroupCommitter

__all__ = ["UndoService", "VoidResult"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VoidResult:
    outcome: VoidOutcome
    #: The live version once the void is in force (after its rebuild, when it needed one).
    version: int
    rebuilt: bool


class UndoService:
    """Rollback and void, audited with the key that asked."""

    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        learners: LearnerRegistry,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._learners = learners
        self._clock = clock

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
        async with self._learners.owning(name) as live:
            target = await self._restorable(record, live, version)
            self._learners.restart_rebuilds(name)
            now = self._clock()
            new_version = live.version + 1
            base = new_version - target.learned_count
            # The rows in between are excluded: this state includes all the rest up to here.
            restored = dataclasses.replace(
                target, high_water_mark=live.high_water_mark, created_at=now, version=new_version
            )
            through = live.high_water_mark
            before = {"version": live.version, "learned_count": live.learner.learned}

            async def store(connection: AsyncConnection) -> int:
                excluded = await exclude_interactions(
                    connection,
                    policy=name,
                    after_seq=target.high_water_mark,
                    through_seq=through,
                    reason=f"Rolled back from version {live.version} to version {version}.",
                    now=now,
                )
                await save_snapshot(connection, snapshot=restored)
                await set_version_base(connection, policy=name, base=base)
                after = {"version": new_version, "restored_version": version}
                after |= {"learned_count": target.learned_count, "excluded_interactions": excluded}
                await record_audit(
                    connection,
                    key_id=actor,
                    action="policy.rollback",
                    target=name,
                    before=before,
                    after=after,
                    at=now,
                )
                return excluded

            excluded = await self._committer.run(store)
            new = build_learner(record, restored, version_base=base)
            new.snapshot_at = now
            self._learners.put(new)
            live.retire()
        _log.info(
            "policy %s rolled back to version %d as version %d; %d interactions excluded",
            *(name, version, new_version, excluded),
        )
        await catch_up(self._engine, new, set_aside=self._learners.set_aside, now=self._clock())
        return new

    async def _restorable(
        self, record: PolicyRecord, live: PolicyLearner, version: int
    ) -> Snapshot:
        """Stored version ``version`` of the policy, when it can be made live again."""
        name = record.name
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
        return target

    async def feedback_policy(self, feedback_id: str) -> str:
        """The policy a feedback's decision belongs to (404 when there is no such feedback)."""
        async with self._engine.connect() as connection:
            return await feedback_policy(connection, feedback_id=feedback_id)

    async def void(self, feedback_id: str, reason: str, *, actor: str = "service") -> VoidResult:
        """Void one feedback; when that changed a learned reward, rebuild the learner.
        ``actor`` (the key id) is recorded in the audit log with the void."""
        name = await self.feedback_policy(feedback_id)
        rule = self._catalog.reward_rule(name)
        async with self._learners.owning(name) as live:
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
                self._learners.restart_rebuilds(name)
        if learned:
            _log.info("feedback %s voided: rebuilding policy %s", feedback_id, name)
            await self._learners.rebuild(self._catalog.policy(name))
        return VoidResult(outcome, self._learners.learner(name).version, learned)
