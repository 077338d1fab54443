"""One policy's live learner, how to build it from a snapshot, and how it catches up the log.

Kept apart from the learning loop so a child process can rebuild a learner with the very same
code (``api.service.relearn``) without importing the server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.factory import make_policy
from bandit.learner import Learner
from features import ARM_NAMESPACES, CONTEXT_NAMESPACES
from storage.learning_log import Snapshot, interactions_after
from storage.records import PolicyRecord

__all__ = ["PolicyLearner", "build_learner", "catch_up"]

#: Rows read per query while catching up.
_CHUNK = 1000


@dataclass(slots=True)
class PolicyLearner:
    """One policy's live learner and how far into the reward log it has learned."""

    name: str
    revision: int
    learner: Learner
    high_water_mark: int = 0
    snapshot_learned: int = 0
    snapshot_at: float = 0.0
    #: ``version = version_base + learned``; the base jumps past every served version
    #: whenever the learned state does not simply grow (new revision, rollback, void).
    version_base: int = 0
    #: Replaced by a newer learner: it neither learns nor snapshots again.
    retired: bool = False
    #: Its learned state includes a reward that changed since (a void): it keeps serving
    #: until its rebuild goes live, but its snapshots would be wrong, so it writes none.
    stale: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def version(self) -> int:
        """Grows with every learned interaction and jumps at every other change of state."""
        return self.version_base + self.learner.learned

    def retire(self) -> None:
        self.retired = True
        self.learner.close()


def build_learner(
    record: PolicyRecord, snapshot: Snapshot | None, *, version_base: int = 0
) -> PolicyLearner:
    policy = make_policy(
        record.config.exploration,
        context_namespaces=CONTEXT_NAMESPACES,
        arm_namespaces=ARM_NAMESPACES,
        snapshot=None if snapshot is None else snapshot.data,
    )
    if snapshot is None:
        return PolicyLearner(
            record.name, record.revision, Learner(policy), version_base=version_base
        )
    return PolicyLearner(
        record.name,
        record.revision,
        Learner(policy, learned=snapshot.learned_count),
        high_water_mark=snapshot.high_water_mark,
        snapshot_learned=snapshot.learned_count,
        snapshot_at=snapshot.created_at,
        version_base=version_base,
    )


async def catch_up(engine: AsyncEngine, live: PolicyLearner, *, chunk: int = _CHUNK) -> int:
    """Learn every joined, unexcluded interaction after the high-water mark, in join order.

    The event loop runs other work only between chunks (decoding a chunk's contexts and
    learning it is synchronous): a rebuild beside request handling passes a small ``chunk``.
    """
    learned = 0
    async with live.lock:
        while not live.retired:
            async with engine.connect() as connection:
                batch = await interactions_after(
                    connection, policy=live.name, after_seq=live.high_water_mark, limit=chunk
                )
            for logged in batch:
                live.learner.learn(logged.interaction)
                live.high_water_mark = logged.seq
            learned += len(batch)
            if len(batch) < chunk:
                break
    return learned
