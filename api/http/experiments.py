"""What operators call to gate a new model: create, read, promote, roll back, pause, resume."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.access import access, require_policy
from api.http.examples import body_examples
from api.service.experiments import ExperimentReport, ExperimentService, plain_evidence
from bandit.errors import InvalidInputError, NotFoundError
from domain import ApiKey, ExperimentRecord
from experiments import ArmStats, ExperimentSpec, Guardrails

__all__ = ["ExperimentController"]


def _spec(body: schemas.ExperimentIn) -> ExperimentSpec:
    try:
        return ExperimentSpec(
            policy=body.policy,
            candidate=body.candidate,
            stages=tuple(body.stages),
            min_feedback_per_stage=body.min_feedback_per_stage,
            margin=body.margin,
            alpha=body.alpha,
            mode=body.mode,
            replaces=body.replaces,
            guardrails=Guardrails(**msgspec.structs.asdict(body.guardrails)),
        )
    except ValueError as error:
        raise InvalidInputError(str(error)) from error


def _summary(record: ExperimentRecord) -> schemas.ExperimentOut:
    return schemas.ExperimentOut(**_summary_fields(record))


def _summary_fields(record: ExperimentRecord) -> dict[str, Any]:
    spec = record.spec
    guardrails = spec.guardrails
    return {
        "id": record.id,
        "status": record.status,
        "stage": record.stage_index,
        "share": record.share,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "policy": spec.policy,
        "candidate": spec.candidate,
        "stages": list(spec.stages),
        "min_feedback_per_stage": spec.min_feedback_per_stage,
        "margin": spec.margin,
        "alpha": spec.alpha,
        "mode": spec.mode,
        "replaces": spec.replaces,
        "guardrails": schemas.GuardrailsOut(
            max_quality_drop=guardrails.max_quality_drop,
            max_cost_ratio=guardrails.max_cost_ratio,
            max_latency_p95_ratio=guardrails.max_latency_p95_ratio,
            max_error_rate_increase=guardrails.max_error_rate_increase,
        ),
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _arm(stats: ArmStats) -> schemas.ArmOut:
    return schemas.ArmOut(
        feedback=stats.n,
        mean_reward=_finite(stats.reward.mean) if stats.n else None,
        mean_quality=_finite(stats.quality.mean) if stats.quality.n else None,
        mean_cost_usd=_finite(stats.cost_usd.mean) if stats.cost_usd.n else None,
        error_rate=stats.error_rate if stats.n else None,
        latency_p95_ms=_finite(stats.latency_p95) if stats.latencies_ms else None,
    )


def _evidence(evidence: Mapping[str, Any]) -> schemas.EvidenceOut:
    # Evidence is stored as JSON (``plain_evidence``); the struct checks it on the way out.
    return msgspec.convert(evidence, schemas.EvidenceOut)


def _report(report: ExperimentReport) -> schemas.ExperimentReportOut:
    verdict = report.verdict
    stage = report.stage
    return schemas.ExperimentReportOut(
        **_summary_fields(report.record),
        arms=schemas.ArmsOut(candidate=_arm(report.candidate), control=_arm(report.control)),
        stage_counts=schemas.StageCountsOut(
            units_candidate=stage.units_candidate,
            units_control=stage.units_control,
            feedback_candidate=stage.feedback_candidate,
            feedback_control=stage.feedback_control,
        ),
        last_evaluation=None
        if verdict is None
        else schemas.ExperimentVerdictOut(
            action=verdict.action,
            reason=verdict.reason,
            evidence=_evidence(plain_evidence(verdict.evidence)),
        ),
        history=[
            schemas.ExperimentTransitionOut(
                action=t.action,
                from_status=t.from_status,
                to_status=t.to_status,
                from_stage=t.from_stage,
                to_stage=t.to_stage,
                reason=t.reason,
                manual=t.manual,
                evidence=None if t.evidence is None else _evidence(t.evidence),
                at=t.at,
            )
            for t in report.record.history
        ],
    )


#: What an operator may do to an experiment by hand.
_ACTIONS = ("promote", "rollback", "pause", "resume")


class ExperimentController(Controller):
    path = "/v1/experiments"
    tags = ["experiments"]  # noqa: RUF012

    @post("/", **access("admin", body=True, errors=(404, 409)))
    async def create(
        self,
        data: JSONBody[Annotated[schemas.ExperimentIn, body_examples("experiment")]],
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
    ) -> Response[schemas.ExperimentOut]:
        """Start gating a candidate model on a policy at its first stage's share."""
        require_policy(caller, data.policy)
        record = await experiments.create(_spec(data), actor=caller.id)
        return Response(_summary(record), status_code=HTTP_201_CREATED)

    @get("/", **access("read"))
    async def list_experiments(
        self,
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
        policy: FromQuery[str | None] = None,
    ) -> list[schemas.ExperimentOut]:
        """Experiments of the policies this key may see."""
        return [
            _summary(r) for r in await experiments.list(policy) if caller.may_use(r.spec.policy)
        ]

    @get("/{experiment_id:str}", **access("read", errors=(404,)))
    async def read(
        self,
        experiment_id: FromPath[str],
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.ExperimentReportOut:
        """Status, stage, share, per-arm statistics, the latest evaluation and the history."""
        report = await experiments.report(experiment_id)
        _require_experiment(caller, experiment_id, report.record.spec.policy)
        return _report(report)

    @post(
        "/{experiment_id:str}/{action:str}",
        status_code=HTTP_200_OK,
        **access("admin", errors=(404, 409, 422)),
    )
    async def act(
        self,
        experiment_id: FromPath[str],
        action: FromPath[Annotated[str, PathParameter(enum=list(_ACTIONS))]],
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.ExperimentReportOut:
        """promote, rollback, pause or resume by hand (stored with the transitions)."""
        if action not in _ACTIONS:
            raise InvalidInputError(f"Action {action!r} is not one of {', '.join(_ACTIONS)}.")
        report = await experiments.report(experiment_id)
        _require_experiment(caller, experiment_id, report.record.spec.policy)
        await experiments.act(experiment_id, action, actor=caller.id)  # type: ignore[arg-type]
        return _report(await experiments.report(experiment_id))


def _require_experiment(caller: ApiKey, experiment_id: str, policy: str) -> None:
    """Another tenant's experiment answers exactly like one that does not exist."""
    if not caller.may_use(policy):
        raise NotFoundError(f"Experiment {experiment_id!r} does not exist.")
