"""Operators' experiments: start, evaluate as feedback arrives, move through stages, finish."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from api.service.admin import SERVICE_ACTOR, AdminService
from api.service.catalog import Catalog
from api.service.clock import Clock, new_id
from bandit.errors import ConflictError
from domain import ACTIVE, ExperimentRecord
from experiments import ArmStats, ExperimentSpec, StageCounts, Verdict, evaluate
from storage.audit import record_audit
from storage.codec import spec_to_json
from storage.experiments import (
    active_experiments,
    create_experiment,
    experiment_observations,
    get_experiment,
    list_experiments,
    record_transition,
)
from storage.writer import GroupCommitter

__all__ = ["ExperimentReport", "ExperimentService", "ManualAction", "plain_evidence"]

_log = logging.getLogger(__name__)

ManualAction = Literal["promote", "rollback", "pause", "resume"]


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """An experiment with its current statistics and the rule's latest verdict."""

    record: ExperimentRecord
    candidate: ArmStats
    control: ArmStats
    stage: StageCounts
    verdict: Verdict | None


def plain_evidence(value: Any) -> Any:
    """JSON-safe evidence: dataclasses to dicts, non-finite floats to None (JSONB has no NaN)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_evidence(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain_evidence(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_evidence(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ExperimentService:
    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        catalog: Catalog,
        admin: AdminService,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._committer = committer
        self._catalog = catalog
        self._admin = admin
        self._clock = clock
        self._verdicts: dict[str, Verdict] = {}
        # The learning loop and operators both move experiments: one at a time.
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        async with self._engine.connect() as connection:
            active = await active_experiments(connection)
        self._catalog.experiments = {e.spec.policy: e for e in active}

    async def create(self, spec: ExperimentSpec, *, actor: str = SERVICE_ACTOR) -> ExperimentRecord:
        experiment_id = new_id()
        now = self._clock()

        async def store(connection: AsyncConnection) -> ExperimentRecord:
            record = await create_experiment(
                connection, experiment_id=experiment_id, spec=spec, now=now
            )
            await record_audit(
                connection,
                key_id=actor,
                action="experiment.create",
                target=experiment_id,
                before=None,
                after={"status": record.status, "stage": record.stage_index, **spec_to_json(spec)},
                at=now,
            )
            return record

        record = await self._committer.run(store)
        self._catalog.experiments[spec.policy] = record
        return record

    async def report(self, experiment_id: str) -> ExperimentReport:
        async with self._engine.connect() as connection:
            record = await get_experiment(connection, experiment_id=experiment_id)
            candidate, control, stage = await experiment_observations(connection, experiment=record)
        return ExperimentReport(record, candidate, control, stage, self._verdicts.get(record.id))

    async def list(self, policy: str | None = None) -> list[ExperimentRecord]:
        async with self._engine.connect() as connection:
            return await list_experiments(connection, policy=policy)

    async def evaluate_running(self) -> None:
        """Apply the stage rule to every running experiment (after joins, and on a timer)."""
        async with self._lock:
            await self._evaluate_running()

    async def _evaluate_running(self) -> None:
        for record in list(self._catalog.experiments.values()):
            if record.status != "running":
                continue
            try:
                await self._evaluate_one(record)
            except Exception:  # one experiment's failure must not stop the others' checks
                _log.exception("experiment %s: check failed; retrying next round", record.id)

    async def _evaluate_one(self, record: ExperimentRecord) -> None:
        async with self._engine.connect() as connection:
            candidate, control, stage = await experiment_observations(connection, experiment=record)
        verdict = evaluate(record.spec, record.stage_index, candidate, control, stage)
        self._verdicts[record.id] = verdict
        if verdict.action != "continue":
            _log.info("experiment %s: %s (%s)", record.id, verdict.action, verdict.reason)
            await self._apply(
                record,
                verdict.action,
                verdict.reason,
                plain_evidence(verdict.evidence),
            )

    async def act(
        self, experiment_id: str, action: ManualAction, *, actor: str = SERVICE_ACTOR
    ) -> ExperimentRecord:
        """An operator's promote, rollback, pause or resume (``actor``: the key id, audited)."""
        async with self._lock:
            return await self._act(experiment_id, action, actor)

    async def _act(self, experiment_id: str, action: ManualAction, actor: str) -> ExperimentRecord:
        async with self._engine.connect() as connection:
            record = await get_experiment(connection, experiment_id=experiment_id)
        allowed = {
            "promote": ("running",),
            "rollback": ACTIVE,
            "pause": ("running",),
            "resume": ("paused",),
        }[action]
        if record.status not in allowed:
            raise ConflictError(
                f"Experiment {experiment_id!r} is {record.status}; {action} needs it to be "
                f"{' or '.join(allowed)}."
            )
        verdict = self._verdicts.get(record.id)
        evidence = None if verdict is None else plain_evidence(verdict.evidence)
        applied = {
            "promote": "complete"
            if record.stage_index == len(record.spec.stages) - 1
            else "next_stage",
            "rollback": "rollback",
            "pause": "pause",
            "resume": "resume",
        }[action]
        return await self._apply(
            record, applied, f"An operator chose to {action}.", evidence, actor=actor
        )

    async def _apply(
        self,
        record: ExperimentRecord,
        action: str,
        reason: str,
        evidence: dict[str, Any] | None,
        *,
        actor: str | None = None,
    ) -> ExperimentRecord:
        """Apply a transition; ``actor`` is the operator's key id for a manual one (audited),
        ``None`` when the stage rule decided."""
        manual = actor is not None
        status, stage = record.status, record.stage_index
        if action == "next_stage":
            stage += 1
        elif action == "complete":
            status = "completed"
        elif action == "rollback":
            status = "rolled_back"
        elif action == "pause":
            status = "paused"
        elif action == "resume":
            status = "running"
        now = self._clock()

        async def store(connection: AsyncConnection) -> ExperimentRecord:
            updated = await record_transition(
                connection,
                experiment=record,
                action=action,
                to_status=status,
                to_stage=stage,
                reason=reason,
                manual=manual,
                evidence=evidence,
                now=now,
            )
            if actor is not None:
                await record_audit(
                    connection,
                    key_id=actor,
                    action=f"experiment.{action}",
                    target=record.id,
                    before={"status": record.status, "stage": record.stage_index},
                    after={"status": updated.status, "stage": updated.stage_index},
                    at=now,
                )
            return updated

        updated = await self._committer.run(store)
        if status in ACTIVE:
            self._catalog.experiments[record.spec.policy] = updated
        else:
            self._catalog.experiments.pop(record.spec.policy, None)
        if status == "completed":
            await self._roll_out(updated.spec, actor=actor or f"experiment:{record.id}")
        return updated

    async def _roll_out(self, spec: ExperimentSpec, *, actor: str) -> None:
        """The candidate becomes a regular model; the new revision relearns the whole log,
        experiment interactions included, so the learner starts warm. A replaced incumbent
        leaves the policy, and is retired unless another policy still routes to it."""
        config = self._catalog.policy(spec.policy).config
        models = [m for m in config.models if m != spec.replaces]
        models.append(spec.candidate)
        await self._admin.put_policy(
            spec.policy, dataclasses.replace(config, models=tuple(models)), actor=actor
        )
        replaced = spec.replaces
        if replaced is not None and not any(
            replaced in p.config.models for p in self._catalog.policies.values()
        ):
            model = self._catalog.model(replaced)
            await self._admin.put_model(dataclasses.replace(model, status="retired"), actor=actor)
