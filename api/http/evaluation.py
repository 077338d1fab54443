"""What data scientists call: off-policy evaluation of a policy on its own log."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from api.http import schemas
from api.http.access import access, require_policy
from api.http.disconnect import unless_disconnected
from api.service.evaluation import (
    EvaluationReport,
    EvaluationService,
    ReviewAgreement,
    ReviewReport,
)
from bandit.errors import InvalidInputError
from bandit.ope import Estimate
from bandit.review import ModelQuality
from domain import ApiKey

__all__ = ["EvaluationController"]


def _estimate(estimate: Estimate) -> schemas.EstimateOut:
    return schemas.EstimateOut(
        value=estimate.value,
        lower=estimate.lower,
        upper=estimate.upper,
        effective_sample_size=estimate.effective_sample_size,
    )


def _quality(quality: ModelQuality) -> schemas.ReviewQualityOut:
    return schemas.ReviewQualityOut(
        reviewed_decisions=quality.reviewed,
        naive_mean=quality.naive_mean,
        estimate=quality.estimate,
    )


def _reviews(reviews: ReviewReport) -> schemas.ReviewsOut:
    return schemas.ReviewsOut(
        reviewed_decisions=reviews.reviewed_decisions,
        quality=None if reviews.quality is None else _quality(reviews.quality),
        models={model: _quality(q) for model, q in reviews.models.items()},
        agreement=_agreement(reviews.agreement),
        judge_agreement=_agreement(reviews.judge_agreement),
    )


def _agreement(agreement: ReviewAgreement) -> schemas.ReviewAgreementOut:
    return schemas.ReviewAgreementOut(
        alpha=agreement.alpha, decisions=agreement.decisions, reviewers=agreement.reviewers
    )


def _report(report: EvaluationReport) -> schemas.EvaluationOut:
    return schemas.EvaluationOut(
        policy=report.policy,
        decisions=report.decisions,
        observed_mean_reward=report.observed_mean_reward,
        pays_off=report.pays_off,
        verdict=report.verdict,
        targets=[
            schemas.TargetOut(
                name=target.name,
                decisions=target.decisions,
                reward={method: _estimate(e) for method, e in target.reward.items()},
                quality=target.quality,
                cost_usd=target.cost_usd,
            )
            for target in report.targets
        ],
        reviews=_reviews(report.reviews),
    )


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
    ) -> schemas.EvaluationOut:
        """IPS, SNIPS and doubly robust estimates for the logging policy, uniform, every single
        model and alternative configurations trained on the log in time order, with bootstrap
        intervals, and whether the router pays off; beside them, reviewer-scored quality of
        the decisions sampled for review (weighted by their inclusion probabilities) and the
        reviewers' agreement (Krippendorff's alpha).

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
