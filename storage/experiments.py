"""Experiments: their rows, their transitions, and the observations the stage rule reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import ConflictError, InvalidInputError, NotFoundError
from domain import ACTIVE, ExperimentRecord, ExperimentTransition
from experiments import ArmAccumulator, ArmStats, ExperimentSpec, StageCounts
from storage import _sql
from storage.codec import config_from_json, spec_from_json, spec_to_json

__all__ = [
    "active_experiments",
    "create_experiment",
    "experiment_observations",
    "get_experiment",
    "list_experiments",
    "record_transition",
]


def _record(row: Any, history: tuple[ExperimentTransition, ...] = ()) -> ExperimentRecord:
    return ExperimentRecord(
        id=row.id,
        spec=spec_from_json(row.spec),
        status=row.status,
        stage_index=row.stage_index,
        created_at=row.created_at,
        updated_at=row.updated_at,
        history=history,
    )


async def create_experiment(
    connection: AsyncConnection, *, experiment_id: str, spec: ExperimentSpec, now: float
) -> ExperimentRecord:
    """Start ``spec`` at its first stage; one active experiment per policy."""
    await _check_startable(connection, spec)
    await connection.execute(
        _sql.experiments.insert().values(
            id=experiment_id,
            policy=spec.policy,
            candidate=spec.candidate,
            spec=spec_to_json(spec),
            status="running",
            stage_index=0,
            stage_started_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await _insert_transition(
        connection,
        experiment_id=experiment_id,
        action="start",
        from_status="created",
        to_status="running",
        from_stage=0,
        to_stage=0,
        reason=f"Started at share {spec.stages[0]:g}.",
        manual=True,
        evidence=None,
        now=now,
    )
    return await get_experiment(connection, experiment_id=experiment_id)


async def _check_startable(connection: AsyncConnection, spec: ExperimentSpec) -> None:
    """Refuse ``spec`` unless its policy and candidate exist, the candidate is new to the
    policy and not retired, what it replaces is the policy's, and no experiment is active."""
    policy = (
        await connection.execute(select(_sql.policies).where(_sql.policies.c.name == spec.policy))
    ).first()
    if policy is None:
        raise NotFoundError(f"Policy {spec.policy!r} does not exist.")
    candidate = (
        await connection.execute(select(_sql.models).where(_sql.models.c.id == spec.candidate))
    ).first()
    if candidate is None:
        raise NotFoundError(f"Model {spec.candidate!r} does not exist.")
    if candidate.status == "retired":
        raise InvalidInputError(f"Model {spec.candidate!r} is retired and cannot be a candidate.")
    models = config_from_json(policy.config).models
    if spec.candidate in models:
        raise ConflictError(
            f"Model {spec.candidate!r} is already a model of policy {spec.policy!r}."
        )
    if spec.replaces is not None and spec.replaces not in models:
        raise InvalidInputError(
            f"Model {spec.replaces!r} to replace is not one of policy {spec.policy!r}'s models."
        )
    active = (
        await connection.execute(
            select(_sql.experiments.c.id).where(
                _sql.experiments.c.policy == spec.policy, _sql.experiments.c.status.in_(ACTIVE)
            )
        )
    ).first()
    if active is not None:
        raise ConflictError(
            f"Policy {spec.policy!r} already has experiment {active.id!r} in progress; "
            "finish or roll it back first."
        )


async def get_experiment(connection: AsyncConnection, *, experiment_id: str) -> ExperimentRecord:
    row = (
        await connection.execute(
            select(_sql.experiments).where(_sql.experiments.c.id == experiment_id)
        )
    ).first()
    if row is None:
        raise NotFoundError(f"Experiment {experiment_id!r} does not exist.")
    t = _sql.experiment_transitions
    rows = await connection.execute(
        select(t).where(t.c.experiment_id == experiment_id).order_by(t.c.seq)
    )
    history = tuple(
        ExperimentTransition(
            seq=r.seq,
            action=r.action,
            from_status=r.from_status,
            to_status=r.to_status,
            from_stage=r.from_stage,
            to_stage=r.to_stage,
            reason=r.reason,
            manual=r.manual,
            evidence=r.evidence,
            at=r.at,
        )
        for r in rows
    )
    return _record(row, history)


async def list_experiments(
    connection: AsyncConnection, *, policy: str | None = None
) -> list[ExperimentRecord]:
    query = select(_sql.experiments).order_by(_sql.experiments.c.created_at)
    if policy is not None:
        query = query.where(_sql.experiments.c.policy == policy)
    return [_record(row) for row in await connection.execute(query)]


async def active_experiments(connection: AsyncConnection) -> list[ExperimentRecord]:
    rows = await connection.execute(
        select(_sql.experiments).where(_sql.experiments.c.status.in_(ACTIVE))
    )
    return [_record(row) for row in rows]


async def experiment_observations(
    connection: AsyncConnection, *, experiment: ExperimentRecord
) -> tuple[ArmStats, ArmStats, StageCounts]:
    """Cumulative per-arm statistics of joined decisions, and the current stage's counts.

    A joined decision counts as an error when any of its in-window feedback reported one
    (error-only feedback joins with the policy's ``error_reward``).
    """
    d, r, f = _sql.decisions, _sql.rewards, _sql.feedback
    errored = (
        select(f.c.decision_id)
        .where(f.c.error.is_not(None), f.c.late.is_(False))
        .group_by(f.c.decision_id)
        .subquery()
    )
    rows = await connection.execute(
        select(
            d.c.experiment_arm,
            d.c.experiment_stage,
            r.c.reward,
            r.c.quality,
            r.c.cost_usd,
            r.c.latency_ms,
            errored.c.decision_id.label("errored"),
        )
        .join(r, r.c.decision_id == d.c.id)
        .outerjoin(errored, errored.c.decision_id == d.c.id)
        .where(d.c.experiment_id == experiment.id, _sql.usable_reward())
        .order_by(r.c.seq)
    )
    arms = {"candidate": ArmAccumulator(), "control": ArmAccumulator()}
    stage_feedback = {"candidate": 0, "control": 0}
    for row in rows:
        arms[row.experiment_arm].add(
            row.reward,
            quality=row.quality,
            cost_usd=row.cost_usd,
            latency_ms=row.latency_ms,
            error=row.errored is not None,
        )
        if row.experiment_stage == experiment.stage_index:
            stage_feedback[row.experiment_arm] += 1
    # Assignment is per unit, so the split is tested on units: distinct unit hashes, plus
    # every decision without one (its own unit).
    units = func.count(func.distinct(d.c.experiment_unit)) + func.sum(
        case((d.c.experiment_unit.is_(None), 1), else_=0)
    )
    counted = await connection.execute(
        select(d.c.experiment_arm, units)
        .where(d.c.experiment_id == experiment.id, d.c.experiment_stage == experiment.stage_index)
        .group_by(d.c.experiment_arm)
    )
    routed = {"candidate": 0, "control": 0} | {arm: int(n) for arm, n in counted}
    counts = StageCounts(
        units_candidate=routed["candidate"],
        units_control=routed["control"],
        feedback_candidate=stage_feedback["candidate"],
        feedback_control=stage_feedback["control"],
    )
    return arms["candidate"].stats(), arms["control"].stats(), counts


async def record_transition(
    connection: AsyncConnection,
    *,
    experiment: ExperimentRecord,
    action: str,
    to_status: str,
    to_stage: int,
    reason: str,
    manual: bool,
    evidence: Mapping[str, Any] | None,
    now: float,
) -> ExperimentRecord:
    """Move ``experiment`` to ``to_status``/``to_stage`` unless it changed meanwhile."""
    moved = await connection.execute(
        update(_sql.experiments)
        .where(
            _sql.experiments.c.id == experiment.id,
            _sql.experiments.c.status == experiment.status,
            _sql.experiments.c.stage_index == experiment.stage_index,
        )
        .values(
            status=to_status,
            stage_index=to_stage,
            updated_at=now,
            **({"stage_started_at": now} if to_stage != experiment.stage_index else {}),
        )
    )
    if moved.rowcount == 0:
        raise ConflictError(
            f"Experiment {experiment.id!r} changed while this {action} was being decided; "
            "read it again."
        )
    await _insert_transition(
        connection,
        experiment_id=experiment.id,
        action=action,
        from_status=experiment.status,
        to_status=to_status,
        from_stage=experiment.stage_index,
        to_stage=to_stage,
        reason=reason,
        manual=manual,
        evidence=evidence,
        now=now,
    )
    return await get_experiment(connection, experiment_id=experiment.id)


async def _insert_transition(
    connection: AsyncConnection,
    *,
    experiment_id: str,
    action: str,
    from_status: str,
    to_status: str,
    from_stage: int,
    to_stage: int,
    reason: str,
    manual: bool,
    evidence: Mapping[str, Any] | None,
    now: float,
) -> None:
    await connection.execute(
        _sql.experiment_transitions.insert().values(
            experiment_id=experiment_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            from_stage=from_stage,
            to_stage=to_stage,
            reason=reason,
            manual=manual,
            evidence=None if evidence is None else dict(evidence),
            at=now,
        )
    )
