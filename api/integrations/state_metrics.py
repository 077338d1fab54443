"""What the service's own state says, read when Prometheus scrapes (no counter to keep up).

Learned counts and versions are this process's learners; lag, snapshot age and experiment
counts come from the database, so every process reports the same; the role, the active
experiments and the Langfuse export counts are this process's.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.ext.asyncio import AsyncEngine

from api.integrations.langfuse_link import LangfuseLink
from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.judging import JudgeService
from api.service.learners import LearnerRegistry
from api.service.learning import LearningLoop
from api.service.roles import RoleKeeper
from storage.metrics import experiments_by_status, learner_lags, newest_snapshot_times

__all__ = ["ServiceState"]


class ServiceState:
    """A ``StateCollector`` (see ``api.telemetry.metrics``) over the running services."""

    def __init__(
        self,
        engine: AsyncEngine,
        catalog: Catalog,
        learners: LearnerRegistry,
        learning: LearningLoop,
        roles: RoleKeeper,
        clock: Clock,
        langfuse: LangfuseLink | None = None,
        judging: JudgeService | None = None,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._learners = learners
        self._learning = learning
        self._roles = roles
        self._clock = clock
        self._langfuse = langfuse
        self._judging = judging
        self._families: list[Metric] = []

    def collect(self) -> Iterable[Metric]:
        return list(self._families)

    async def refresh(self) -> None:
        # The learners' figures first, then the lag counted from them: one consistent moment
        # even while the loop keeps learning (as ``GET /v1/status`` does).
        learners = {
            name: live
            for name in sorted(self._catalog.policies)
            if (live := self._learners.current(name)) is not None
        }
        marks = {name: live.high_water_mark for name, live in learners.items()}
        async with self._engine.connect() as connection:
            lags = await learner_lags(connection, high_water_marks=marks)
            snapshots = await newest_snapshot_times(connection)
            statuses = await experiments_by_status(connection)
        now = self._clock()

        role = GaugeMetricFamily(
            "bandit_router_learner_role",
            "1 when this process holds the learner role (joins rewards, writes snapshots), "
            "0 when it follows.",
            value=1.0 if self._roles.is_learner() else 0.0,
        )
        learned = _per_policy(
            "bandit_router_learned_interactions",
            "Interactions this process's learner of the policy has learned.",
        )
        version = _per_policy(
            "bandit_router_policy_version", "The policy version this process routes with."
        )
        lag = _per_policy(
            "bandit_router_learner_lag_interactions",
            "Joined rewards this process's learner has not learned yet (nor set aside).",
        )
        for name, live in learners.items():
            learned.add_metric([name], live.learner.learned)
            version.add_metric([name], live.version)
            lag.add_metric([name], lags[name])
        age = _per_policy(
            "bandit_router_snapshot_age_seconds",
            "Seconds since the policy's newest stored snapshot was written (by the learner).",
        )
        for name in sorted(snapshots):
            age.add_metric([name], max(0.0, now - snapshots[name]))
        problems = GaugeMetricFamily(
            "bandit_router_learning_problems",
            "What keeps learning from working in this process now (GET /v1/status lists them).",
            value=len(self._learning.problems()),
        )
        self._families = [
            role,
            learned,
            version,
            lag,
            age,
            problems,
            *self._experiments(statuses),
            *self._exports(),
            *await self._quality(),
        ]

    async def _quality(self) -> list[Metric]:
        """Decisions without a quality signal, and what each judge did (policies that
        learn another's escalations have no traffic of their own and are left out)."""
        if self._judging is None:
            return []
        without = _per_policy(
            "bandit_router_decisions_without_quality_last_hour",
            "Decisions of the last hour that got no score from any source (they are learned "
            "only with a default_reward).",
        )
        grades = CounterMetricFamily(
            "bandit_router_judge_grades",
            "Answers sampled for the policy's judge in this process, by outcome: 'graded', "
            "'failed' (no grade: no signal), 'shed' (queue full), 'over_cap' (hourly cap).",
            labels=["policy", "outcome"],
        )
        spend = _per_policy(
            "bandit_router_judge_spend_usd_last_hour",
            "USD the policy's judge spent in the last hour (every process), apart from the "
            "routed calls' cost.",
        )
        for name, record in sorted(self._catalog.policies.items()):
            if record.config.escalation_for is not None:
                continue
            quality = await self._judging.quality(name)
            without.add_metric([name], quality.without_quality)
            if quality.judge is not None:
                done = quality.judge
                for outcome in ("graded", "failed", "shed", "over_cap"):
                    grades.add_metric([name, outcome], getattr(done, outcome))
                spend.add_metric([name], quality.judge_spend_usd_last_hour or 0.0)
        return [without, grades, spend]

    def _experiments(self, statuses: dict[str, int]) -> list[Metric]:
        by_status = GaugeMetricFamily(
            "bandit_router_experiments",
            "Experiments in each status (running, paused, completed, rolled_back).",
            labels=["status"],
        )
        for status in sorted(statuses):
            by_status.add_metric([status], statuses[status])
        labels = ["experiment", "policy", "candidate", "status"]
        stage = GaugeMetricFamily(
            "bandit_router_experiment_stage",
            "Stage index (0 = first) of each running or paused experiment.",
            labels=labels,
        )
        share = GaugeMetricFamily(
            "bandit_router_experiment_share",
            "Share of the policy's traffic the candidate gets now: its stage's share while "
            "running, 0 while paused.",
            labels=labels,
        )
        for policy in sorted(self._catalog.experiments):
            record = self._catalog.experiments[policy]
            values = [record.id, policy, record.spec.candidate, record.status]
            stage.add_metric(values, record.stage_index)
            share.add_metric(values, record.share if record.status == "running" else 0.0)
        return [by_status, stage, share]

    def _exports(self) -> list[Metric]:
        link = self._langfuse
        if link is None:
            return []  # Langfuse is off: nothing is exported, nothing dropped
        counts = link.exporter.counts()
        events = CounterMetricFamily(
            "bandit_router_langfuse_events",
            "Decisions and feedback for Langfuse export, by outcome: 'exported', 'dropped' "
            "(the queue was full: Langfuse slow or down) or 'failed' (the SDK refused it).",
            labels=["outcome"],
        )
        events.add_metric(["exported"], counts.exported)
        events.add_metric(["dropped"], counts.dropped)
        events.add_metric(["failed"], counts.failed)
        queued = GaugeMetricFamily(
            "bandit_router_langfuse_queue_events",
            "Events waiting in the Langfuse export queue.",
            value=counts.queued,
        )
        families: list[Metric] = [events, queued]
        if link.poller is not None:
            polled = link.poller.counts()
            failures = CounterMetricFamily(
                "bandit_router_langfuse_poll_failures",
                "Langfuse score polls that failed.",
                value=polled.failures,
            )
            families.append(failures)
        return families


def _per_policy(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["policy"])
