"""One policy's live learner, how to build it from a snapshot, and how it catches up the log.

Kept apart from the learning loop so a child process can rebuild a learner with the very same
code (``api.service.relearn``) without importing the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.factory import make_policy
from bandit.learner import Learner
from bandit.reward import RewardRule
from bandit.types import Interaction
from domain import LearnerState, PolicyRecord
from features import ARM_NAMESPACES, context_namespaces
from storage.learning_log import Quarantined, Snapshot, interactions_after

__all__ = ["PolicyLearner", "SetAside", "build_learner", "catch_up"]

_log = logging.getLogger(__name__)

#: Rows read per query while catching up.
_CHUNK = 1000
#: A quarantine reason is kept to this many characters (an exception's text is unbounded).
_MAX_REASON_CHARS = 1000

#: Records a quarantined reward durably; ``catch_up`` without one only skips it (a rebuild).
SetAside = Callable[[Quarantined], Awaitable[None]]


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
    #: The policy's reward rule: its range also clips rewards joined before rewards were clipped.
    rule: RewardRule = field(default_factory=RewardRule)
    #: Why this policy's last learning round failed, or ``None`` when it succeeded.
    last_error: str | None = None
    #: The policy revision this learner serves (its config builds the learning child's copy).
    record: PolicyRecord | None = None
    #: Names this learner object to the learning child (:mod:`api.service.learn_worker`).
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The bytes of the learned state at ``learner.learned``, when the learning child sent
    #: them: a snapshot then costs the event loop nothing.
    state_bytes: tuple[int, bytes] | None = None

    @property
    def version(self) -> int:
        """Grows with every learned interaction and jumps at every other change of state."""
        return self.version_base + self.learner.learned

    @property
    def state(self) -> LearnerState:
        """What a decision made with this learner logs of it."""
        return LearnerState(self.revision, self.version, self.learner.learned)

    def retire(self) -> None:
        self.retired = True
        self.learner.close()


def build_learner(
    record: PolicyRecord, snapshot: Snapshot | None, *, version_base: int = 0
) -> PolicyLearner:
    config = record.config
    policy = make_policy(
        config.exploration,
        context_namespaces=context_namespaces(escalation=config.escalation_for is not None),
        arm_namespaces=ARM_NAMESPACES,
        snapshot=None if snapshot is None else snapshot.data,
        budget_usd=_budget_usd(record),
    )
    rule = record.config.reward
    if snapshot is None:
        return PolicyLearner(
            record.name,
            record.revision,
            Learner(policy),
            version_base=version_base,
            rule=rule,
            record=record,
        )
    return PolicyLearner(
        record.name,
        record.revision,
        Learner(policy, learned=snapshot.learned_count),
        high_water_mark=snapshot.high_water_mark,
        snapshot_learned=snapshot.learned_count,
        snapshot_at=snapshot.created_at,
        version_base=version_base,
        rule=rule,
        record=record,
    )


def _budget_usd(record: PolicyRecord) -> float | None:
    """The policy's budget in USD per request: resolved when it was put, or stated in USD."""
    budget = record.config.budget
    if budget is None:
        return None
    if record.config.budget_usd is not None:
        return record.config.budget_usd
    return budget.usd_per_request_for(None)


async def catch_up(
    engine: AsyncEngine,
    live: PolicyLearner,
    *,
    chunk: int = _CHUNK,
    set_aside: SetAside | None = None,
    now: float = 0.0,
) -> int:
    """Learn every joined, unexcluded interaction after the high-water mark, in join order;
    return how many were learned. One that cannot be learned is passed to ``set_aside``
    (quarantined) and skipped.

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
            if len(batch) < chunk:
                break
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
