"""A policy's judge at work: grade a sample of live answers, off the request path, within a
spend cap, and record each grade as feedback with source ``judge``.

Which decisions the judge grades is decided when the decision is made (``bandit.judge``): a
stable draw at the policy's ``sample_rate``, taken only while the judge is open (under its
hourly cap, its queue not full), so that whether a decision is in the sample never depends on
its answer. After the answer is sent, ``offer`` puts the sampled answer on a bounded queue;
workers grade it through a ``Grader`` (the proxy's provider layer) and record the grade. The
judge's own cost is stored on that feedback as ``grading_cost_usd``, never as the call's cost.
A judge that fails or answers no grade gives no signal; a full queue sheds (counted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from api.service.clock import Clock
from bandit.judge import JUDGE_SOURCE, JudgeSettings
from domain import DecisionRecord, FeedbackInput
from storage.quality import QualityCounts, judge_spend, quality_counts

__all__ = [
    "Grade",
    "Grader",
    "JudgeActivity",
    "JudgeLedger",
    "JudgeService",
    "QualitySignal",
]

_log = logging.getLogger(__name__)

#: The spend cap and the quality counts look back this far.
HOUR_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class Grade:
    """A judge's grade in [0, 1] (None: no usable grade) and what the judge call cost."""

    score: float | None
    cost_usd: float | None


class Grader(Protocol):
    """Asks the judge model for a grade of ``answer`` to ``conversation``. Raises on a failed
    call; a reply without a grade is ``Grade(None, cost)``."""

    async def grade(self, judge: JudgeSettings, conversation: str, answer: str) -> Grade: ...


@dataclass(slots=True)
class JudgeActivity:
    """What this process's judge did for one policy since it started."""

    graded: int = 0
    #: Calls that failed or answered no grade (no signal recorded).
    failed: int = 0
    #: Sampled answers dropped because the queue was full.
    shed: int = 0
    #: Sampled answers not graded because the hour's spend had reached the cap.
    over_cap: int = 0
    spend_usd: float = 0.0


@dataclass(slots=True)
class _Spend:
    """The policy's judge spend in the last hour: read from the log (every process's grades)
    at ``read_at``, plus what this process spent since."""

    logged: float = 0.0
    read_at: float = float("-inf")
    since_read: list[tuple[float, float]] = field(default_factory=list)

    def total(self) -> float:
        return self.logged + sum(cost for _, cost in self.since_read)


class JudgeLedger:
    """Whether a policy's judge takes more work now: its spend against its hourly cap, and
    room in its queue. Routing asks it before sampling a decision; the judge keeps it."""

    def __init__(self, engine: AsyncEngine, clock: Clock, *, queue_size: int) -> None:
        self._engine = engine
        self._clock = clock
        self.queue_size = queue_size
        self._spend: dict[str, _Spend] = {}
        self.backlog = 0

    def is_open(self, policy: str, judge: JudgeSettings) -> bool:
        spend = self._spend.get(policy)
        spent = 0.0 if spend is None else spend.total()
        return spent < judge.max_usd_per_hour and self.backlog < self.queue_size

    def spent_last_hour(self, policy: str) -> float:
        spend = self._spend.get(policy)
        return 0.0 if spend is None else spend.total()

    def add(self, policy: str, cost: float) -> None:
        self._spend.setdefault(policy, _Spend()).since_read.append((self._clock(), cost))

    async def refresh(self, policy: str, *, max_age: float) -> None:
        """Re-read the last hour's spend from the log when the last read is older than
        ``max_age`` seconds (other processes' judges count against the same cap)."""
        spend = self._spend.setdefault(policy, _Spend())
        now = self._clock()
        if now - spend.read_at < max_age:
            return
        async with self._engine.connect() as connection:
            logged = await judge_spend(connection, policy=policy, since=now - HOUR_SECONDS)
        spend.logged, spend.read_at = logged, now
        # Grades recorded before the read are in ``logged`` now.
        spend.since_read = [(at, cost) for at, cost in spend.since_read if at > now]


@dataclass(frozen=True, slots=True)
class QualitySignal:
    """A policy's last hour: decisions, those without a quality signal, and a warning when the
    policy has no quality source at all."""

    decisions: int
    without_quality: int
    warning: str | None
    judge: JudgeActivity | None
    judge_spend_usd_last_hour: float | None


@dataclass(frozen=True, slots=True)
class _Item:
    decision: DecisionRecord
    judge: JudgeSettings
    conversation: str
    answer: str


class JudgeService:
    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        ledger: JudgeLedger,
        record: Callable[[FeedbackInput], Awaitable[object]],
        clock: Clock,
        *,
        grader: Grader | None,
        workers: int = 2,
        spend_refresh_seconds: float = 5.0,
        counts_max_age: float = 15.0,
    ) -> None:
        """``record`` stores a feedback (``RouterService.feedback``); ``grader`` None: no
        judge can be called in this process (no provider layer)."""
        self._engine = engine
        self._catalog = catalog
        self._ledger = ledger
        self._record = record
        self._clock = clock
        self._grader = grader
        self._workers = workers
        self._spend_refresh = spend_refresh_seconds
        self._counts_max_age = counts_max_age
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=ledger.queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._activity: dict[str, JudgeActivity] = {}
        self._counts: dict[str, tuple[float, QualityCounts]] = {}

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"judge-{i}") for i in range(self._workers)
        ]

    async def close(self) -> None:
        """Stop grading; answers still queued go ungraded (no signal, as a failed judge)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def offer(self, decision: DecisionRecord, conversation: str, answer: str) -> None:
        """Queue ``answer`` for grading when ``decision`` is in its policy's judge sample;
        never waits (a full queue sheds the answer, counted)."""
        if decision.judge_probability is None:
            return
        policy = self._catalog.policies.get(decision.policy)
        judge = None if policy is None else policy.config.judge
        if judge is None or self._grader is None:
            return
        try:
            self._queue.put_nowait(_Item(decision, judge, conversation, answer))
        except asyncio.QueueFull:
            self.activity(decision.policy).shed += 1
            return
        self._ledger.backlog = self._queue.qsize()

    def activity(self, policy: str) -> JudgeActivity:
        return self._activity.setdefault(policy, JudgeActivity())

    async def drain(self) -> None:
        """Wait until every queued answer is graded (tests and benchmarks)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._grade(item)
            except Exception:  # one bad grade must not stop the worker
                _log.exception("the judge could not grade decision %s", item.decision.id)
                self.activity(item.decision.policy).failed += 1
            finally:
                self._queue.task_done()
                self._ledger.backlog = self._queue.qsize()

    async def _grade(self, item: _Item) -> None:
        policy = item.decision.policy
        activity = self.activity(policy)
        await self._ledger.refresh(policy, max_age=self._spend_refresh)
        if self._ledger.spent_last_hour(policy) >= item.judge.max_usd_per_hour:
            activity.over_cap += 1
            return
        assert self._grader is not None
        try:
            grade = await self._grader.grade(item.judge, item.conversation, item.answer)
        except Exception as error:  # a failed judge gives no signal rather than a bad one
            _log.warning(
                "judge %s failed on decision %s: %s", item.judge.model, item.decision.id, error
            )
            activity.failed += 1
            return
        cost = grade.cost_usd or 0.0
        self._ledger.add(policy, cost)
        activity.spend_usd += cost
        if grade.score is None:
            activity.failed += 1
            return
        await self._record(
            FeedbackInput(
                decision_id=item.decision.id,
                source=JUDGE_SOURCE,
                score=grade.score,
                idempotency_key=f"judge:{item.decision.id}",
                reviewer=item.judge.model,
                grading_cost_usd=grade.cost_usd,
            )
        )
        activity.graded += 1

    async def quality(self, policy: str, *, fresh: bool = False) -> QualitySignal:
        """The policy's last hour of quality signal, counted at most every few seconds
        (``fresh``: counted now, for one policy's own page)."""
        record = self._catalog.policy(policy)
        counts = await self._quality_counts(policy, fresh=fresh)
        config = record.config
        judge = config.judge
        warning = None
        no_source = judge is None and config.reward.default_reward is None
        if no_source and counts.scored == 0 and counts.without_quality > 0:
            warning = (
                f"{counts.without_quality} decisions in the last hour had no quality signal: "
                "the policy has no judge, no default_reward and no scored feedback, so it "
                "learns nothing from them. Give it a judge, or send scores to POST /v1/feedback."
            )
        return QualitySignal(
            decisions=counts.decisions,
            without_quality=counts.without_quality,
            warning=warning,
            judge=None if judge is None else self.activity(policy),
            judge_spend_usd_last_hour=None
            if judge is None
            else self._ledger.spent_last_hour(policy),
        )

    async def _quality_counts(self, policy: str, *, fresh: bool) -> QualityCounts:
        now = self._clock()
        cached = self._counts.get(policy)
        if not fresh and cached is not None and now - cached[0] < self._counts_max_age:
            return cached[1]
        async with self._engine.connect() as connection:
            counts = await quality_counts(connection, policy=policy, since=now - HOUR_SECONDS)
        self._counts[policy] = (now, counts)
        return counts
