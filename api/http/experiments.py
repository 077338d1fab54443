"""What operators call to gate a new model: create, read, promote, roll back, pause, resume."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from msgspec import Meta, Struct

from api.http.access import access, require_policy
from api.http.examples import body_examples
from api.service.experiments import ExperimentReport, ExperimentService, plain_evidence
from bandit.access import ApiKey
from bandit.errors import InvalidInputError, NotFoundError
from experiments import DEFAULT_STAGES, ArmStats, ExperimentSpec, Guardrails
from storage.codec import spec_to_json
from storage.experiments import ExperimentRecord

__all__ = ["ExperimentController"]

Positive = Annotated[float, Meta(gt=0.0)]


class GuardrailsIn(Struct, forbid_unknown_fields=True):
    max_quality_drop: Positive | None = None
    max_cost_ratio: Positive | None = None
    max_latency_p95_ratio: Positive | None = None
    max_error_rate_increase: Positive | None = None


class ExperimentIn(Struct, forbid_unknown_fields=True):
    policy: str
    candidate: str
    stages: list[float] = msgspec.field(default_factory=lambda: list(DEFAULT_STAGES))
    min_feedback_per_stage: Annotated[int, Meta(ge=1)] = 200
    margin: Positive = 0.02
    alpha: Annotated[float, Meta(gt=0.0, lt=0.5)] = 0.05
    mode: Literal["add", "replace"] = "add"
    replaces: str | None = None
    guardrails: GuardrailsIn = msgspec.field(default_factory=GuardrailsIn)


def _spec(body: ExperimentIn) -> ExperimentSpec:
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


def _summary(record: ExperimentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "status": record.status,
        "stage": record.stage_index,
        "share": record.share,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        **spec_to_json(record.spec),
    }


def _arm(stats: ArmStats) -> dict[str, Any]:
    def finite(value: float) -> float | None:
        return value if value == value and abs(value) != float("inf") else None

    return {
        "feedback": stats.n,
        "mean_reward": finite(stats.reward.mean) if stats.n else None,
        "mean_quality": finite(stats.quality.mean) if stats.quality.n else None,
        "mean_cost_usd": finite(stats.cost_usd.mean) if stats.cost_usd.n else None,
        "error_rate": stats.error_rate if stats.n else None,
        "latency_p95_ms": finite(stats.latency_p95) if stats.latencies_ms else None,
    }


def _report(report: ExperimentReport) -> dict[str, Any]:
    verdict = report.verdict
    return {
        **_summary(report.record),
        "arms": {"candidate": _arm(report.candidate), "control": _arm(report.control)},
        "stage_counts": plain_evidence(report.stage),
        "last_evaluation": None
        if verdict is None
        else {
            "action": verdict.action,
            "reason": verdict.reason,
            "evidence": plain_evidence(verdict.evidence),
        },
        "history": [
            {
                "action": t.action,
                "from_status": t.from_status,
                "to_status": t.to_status,
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "reason": t.reason,
                "manual": t.manual,
                "evidence": t.evidence,
                "at": t.at,
            }
            for t in report.record.history
        ],
    }


class ExperimentController(Controller):
    path = "/v1/experiments"
    tags = ["experiments"]  # noqa: RUF012

    @post("/", **access("admin", body=True, errors=(404, 409)))
    async def create(
        self,
        data: JSONBody[Annotated[ExperimentIn, body_examples("experiment")]],
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
    ) -> Response[dict[str, Any]]:
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
    ) -> list[dict[str, Any]]:
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
    ) -> dict[str, Any]:
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
        action: FromPath[str],
        experiments: NamedDependency[ExperimentService],
        caller: NamedDependency[ApiKey],
    ) -> dict[str, Any]:
        """promote, rollback, pause or resume by hand (stored with the transitions)."""
        if action not in ("promote", "rollback", "pause", "resume"):
            raise InvalidInputError(
                f"Action {action!r} is not one of promote, rollback, pause, resume."
            )
        report = await experiments.report(experiment_id)
        _require_experiment(caller, experiment_id, report.record.spec.policy)
        await experiments.act(experiment_id, action, actor=caller.id)  # type: ignore[arg-type]
        return _report(await experiments.report(experiment_id))


def _require_experiment(caller: ApiKey, experiment_id: str, policy: str) -> None:
    """Another tenant's experiment answers exactly like one that does not exist."""
    if not caller.may_use(policy):
        raise NotFoundError(f"Experiment {experiment_id!r} does not exist.")
