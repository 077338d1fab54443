"""What data scientists call: off-policy evaluation of a policy on its own log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from api.http.access import access, require_policy
from api.http.disconnect import unless_disconnected
from api.service.evaluation import EvaluationReport, EvaluationService
from bandit.access import ApiKey
from bandit.errors import InvalidInputError
from bandit.ope import Estimate

__all__ = ["EvaluationController"]


def _estimate(estimate: Estimate) -> dict[str, Any]:
    return {
        "value": estimate.value,
        "lower": estimate.lower,
        "upper": estimate.upper,
        "effective_sample_size": estimate.effective_sample_size,
    }


def _report(report: EvaluationReport) -> dict[str, Any]:
    return {
        "policy": report.policy,
        "decisions": report.decisions,
        "observed_mean_reward": report.observed_mean_reward,
        "pays_off": report.pays_off,
        "verdict": report.verdict,
        "targets": [
            {
                "name": target.name,
                "decisions": target.decisions,
                "reward": {method: _estimate(e) for method, e in target.reward.items()},
                "quality": target.quality,
                "cost_usd": target.cost_usd,
            }
            for target in report.targets
        ],
    }


class EvaluationController(Controller):
    path = "/v1/policies"
    tags = ["inspection"]  # noqa: RUF012

    @get("/{name:str}/evaluation", **access("read", errors=(404, 422, 503)))
    async def evaluate(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        caller: NamedDependency[ApiKey],
        evaluation: NamedDependency[EvaluationService],
        since: FromQuery[float | None] = None,
        until: FromQuery[float | None] = None,
        resamples: FromQuery[int] = 200,
        counterfactual: FromQuery[bool] = True,
    ) -> dict[str, Any]:
        """IPS, SNIPS and doubly robust estimates for the logging policy, uniform, every single
        model and alternative configurations trained on the log in time order, with bootstrap
        intervals, and whether the router pays off.

        Computed in a worker process; at most a few reports run at once (503 with
        ``Retry-After`` beyond that), and a report whose client disconnects is abandoned."""
        require_policy(caller, name)
        if not 1 <= resamples <= 5000:
            raise InvalidInputError(f"resamples must be between 1 and 5000, got {resamples}.")
        if since is not None and until is not None and since >= until:
            raise InvalidInputError(f"since ({since}) must be before until ({until}).")
        report = await unless_disconnected(
            request.receive,
            evaluation.evaluate(
                name, since=since, until=until, resamples=resamples, counterfactual=counterfactual
            ),
        )
        return _report(report)
