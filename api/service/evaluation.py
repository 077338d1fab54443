"""Does the router pay off? Off-policy estimates on a policy's own log.

For a time range: the logging policy (a sanity check: its estimate must match the observed
mean reward), uniform routing, every single model, and alternative configurations (other
exploration settings, feature sets and a cost weight) trained counterfactually on the log in
time order; each by IPS, SNIPS and doubly robust, with bootstrap intervals and effective
sample sizes; then a plain answer. Rewards of the cost-weight alternative are on its own scale:
compare it by quality and cost.

Reviewer-scored quality comes beside them: the sampled decisions' reviewer scores weighted
by their inclusion probabilities (Hajek), and the reviewers' agreement (Krippendorff's alpha)
where several scored the same decision.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from api.service.catalog import Catalog
from api.service.offload import HeavyJobs
from bandit.agreement import krippendorff_alpha
from bandit.counterfactual import LoggedStep, progressive_pmfs
from bandit.errors import InvalidInputError
from bandit.factory import make_policy
from bandit.ope import Estimate, LoggedDecision, doubly_robust, ips, snips
from bandit.review import ModelQuality, ReviewedDecision, reviewed_quality
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context
from domain import PolicyConfig
from features import ARM_NAMESPACES, context_namespaces
from storage.engine import create_engine
from storage.evaluation import RewardedDecision, rewarded_decisions
from storage.reviews import ReviewerScore, judge_scores_of_reviewed, reviewer_scores

__all__ = [
    "EvaluationReport",
    "EvaluationService",
    "ReviewAgreement",
    "ReviewReport",
    "TargetReport",
    "evaluate_log",
    "review_report",
]

#: Rows read for one evaluation; a range with more keeps its oldest ones.
MAX_ROWS = 50_000
#: Reviewer scores read for one evaluation (reviews are a sample: far fewer than decisions).
MAX_REVIEW_SCORES = 200_000


@dataclass(frozen=True, slots=True)
class TargetReport:
    name: str
    decisions: int
    reward: dict[str, Estimate]
    #: SNIPS estimates of mean quality and cost, where the log has them.
    quality: float | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class ReviewAgreement:
    """Krippendorff's alpha (interval) over decisions scored by two or more named reviewers;
    None when fewer than two such decisions exist."""

    alpha: float | None
    decisions: int
    reviewers: int


@dataclass(frozen=True, slots=True)
class ReviewReport:
    """Reviewer-scored quality of the sampled decisions in the range."""

    reviewed_decisions: int
    #: The whole policy; None without reviews.
    quality: ModelQuality | None
    models: dict[str, ModelQuality]
    agreement: ReviewAgreement
    #: The policy's judge against the reviewers, over the decisions both scored (the
    #: reviewers' mean as one rater, the judge as the other); ``reviewers`` counts the judge.
    judge_agreement: ReviewAgreement = ReviewAgreement(None, 0, 0)


_NO_REVIEWS = ReviewReport(0, None, {}, ReviewAgreement(None, 0, 0))


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    policy: str
    decisions: int
    observed_mean_reward: float
    targets: tuple[TargetReport, ...]
    verdict: str
    pays_off: bool | None
    reviews: ReviewReport = _NO_REVIEWS


class EvaluationService:
    """Evaluations run as heavy jobs (see :mod:`api.service.offload`): in a child process that
    reads the log through its own connection to ``database_url``."""

    def __init__(self, database_url: str, catalog: Catalog, jobs: HeavyJobs) -> None:
        self._database_url = database_url
        self._catalog = catalog
        self._jobs = jobs

    async def evaluate(
        self,
        policy: str,
        *,
        since: float | None = None,
        until: float | None = None,
        resamples: int = 200,
        seed: int = 0,
        counterfactual: bool = True,
    ) -> EvaluationReport:
        record = self._catalog.policy(policy)  # 404 for an unknown policy
        return await self._jobs.run(
            "evaluation",
            evaluate_log,
            self._database_url,
            policy,
            record.config,
            since,
            until,
            resamples,
            seed,
            counterfactual,
        )


def evaluate_log(
    database_url: str,
    policy: str,
    config: PolicyConfig,
    since: float | None,
    until: float | None,
    resamples: int,
    seed: int,
    counterfactual: bool,
) -> EvaluationReport:
    """The whole evaluation, synchronous: read the log through a new engine, then estimate."""
    rows, scores, judged = asyncio.run(_read(database_url, policy, since, until))
    if len(rows) < 2:
        raise InvalidInputError(
            f"Policy {policy!r} has {len(rows)} rewarded decisions in that range; "
            "an evaluation needs at least 2."
        )
    report = _evaluate(policy, config, rows, resamples, seed, counterfactual)
    return replace(report, reviews=review_report(scores, judged))


async def _read(
    database_url: str, policy: str, since: float | None, until: float | None
) -> tuple[list[RewardedDecision], list[ReviewerScore], dict[str, float]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await rewarded_decisions(
                connection, policy=policy, since=since, until=until, limit=MAX_ROWS
            )
            scores = await reviewer_scores(
                connection, policy=policy, since=since, until=until, limit=MAX_REVIEW_SCORES
            )
            reviewed = sorted({score.decision_id for score in scores})
            judged = await judge_scores_of_reviewed(connection, decision_ids=reviewed)
            return rows, scores, judged
    finally:
        await engine.dispose()


def review_report(
    scores: Sequence[ReviewerScore], judged: Mapping[str, float] | None = None
) -> ReviewReport:
    """Reviewer quality and agreement from every reviewer score of the sampled decisions,
    and the judge's agreement with the reviewers where ``judged`` (decision id -> the
    judge's grade) has a grade of a reviewed decision.

    A reviewer who scored a decision twice counts with their latest score. Scores sent
    without a reviewer name count for quality, each on its own, but not for agreement:
    nobody can tell whether two of them came from the same person.
    """
    named: dict[str, dict[str, float]] = {}
    anonymous: dict[str, list[float]] = {}
    about: dict[str, tuple[str, float]] = {}
    for score in scores:  # oldest first within a decision: later scores replace earlier ones
        about[score.decision_id] = (score.model, score.probability)
        if score.reviewer is None:
            anonymous.setdefault(score.decision_id, []).append(score.score)
        else:
            named.setdefault(score.decision_id, {})[score.reviewer] = score.score
    reviewed = [
        ReviewedDecision(
            model,
            probability,
            (*named.get(decision_id, {}).values(), *anonymous.get(decision_id, ())),
        )
        for decision_id, (model, probability) in about.items()
    ]
    overall, per_model = reviewed_quality(reviewed)
    units = [list(by.values()) for by in named.values() if len(by) >= 2]
    reviewers = {name for by in named.values() if len(by) >= 2 for name in by}
    with_judge = [
        [statistics.fmean(r.scores), judged[r_id]]
        for r_id, r in zip(about, reviewed, strict=True)
        if judged and r_id in judged
    ]
    return ReviewReport(
        reviewed_decisions=len(reviewed),
        quality=overall,
        models=per_model,
        agreement=ReviewAgreement(krippendorff_alpha(units), len(units), len(reviewers)),
        judge_agreement=ReviewAgreement(
            krippendorff_alpha(with_judge), len(with_judge), 2 if with_judge else 0
        ),
    )


def _evaluate(
    policy: str,
    config: PolicyConfig,
    rows: Sequence[RewardedDecision],
    resamples: int,
    seed: int,
    counterfactual: bool,
) -> EvaluationReport:
    logged_pmf = {id(row.context): row.pmf for row in rows}

    def logging(context: Context, arms: tuple[Arm, ...]) -> Sequence[float]:
        return logged_pmf[id(context)]

    def uniform(context: Context, arms: tuple[Arm, ...]) -> Sequence[float]:
        return [1.0 / len(arms)] * len(arms)

    targets = [
        _report("logging policy", rows, logging, resamples, seed),
        _report("uniform", rows, uniform, resamples, seed),
    ]
    models = sorted({arm.id for row in rows for arm in row.arms})
    singles = []
    for model in models:
        subset = [row for row in rows if any(arm.id == model for arm in row.arms)]
        if len(subset) < 2:
            continue
        singles.append(_report(f"only {model}", subset, _always(model), resamples, seed))
    targets += singles
    if counterfactual:
        targets += [
            _report(name, rows, target, resamples, seed, reward_shift)
            for name, target, reward_shift in _alternatives(config, rows)
        ]
    observed = math.fsum(row.reward for row in rows) / len(rows)
    verdict, pays_off = _verdict(targets[0], singles)
    return EvaluationReport(policy, len(rows), observed, tuple(targets), verdict, pays_off)


Target = Callable[[Context, tuple[Arm, ...]], Sequence[float]]


def _alternatives(
    config: PolicyConfig, rows: Sequence[RewardedDecision]
) -> list[tuple[str, Target, float]]:
    """Alternative configurations trained counterfactually on the log in time order.

    Each entry is ``(name, target pmf, cost-weight shift)``: a cost weight ``w'`` in place of
    ``w`` changes every reward by ``-(w' - w) * cost``.
    """
    exploration = config.exploration
    cost_weight = config.reward.cost_weight
    doubled = cost_weight * 2 if cost_weight > 0 else 10.0
    candidates: list[tuple[str, ExplorationSettings, frozenset[str], float]] = [
        (
            "alternative: epsilon-greedy 0.05",
            replace(exploration, algorithm="epsilon", epsilon=0.05),
            frozenset(),
            0.0,
        ),
        (
            "alternative: squarecb, learning rate 0.5",
            replace(exploration, algorithm="squarecb", learning_rate=0.5),
            frozenset(),
            0.0,
        ),
        ("alternative: without prompt words", exploration, frozenset({"words"}), 0.0),
        (
            "alternative: without prompt text features",
            exploration,
            frozenset({"size", "markers", "language"}),
            0.0,
        ),
        (
            f"alternative: cost weight {doubled:g} instead of {cost_weight:g}",
            exploration,
            frozenset(),
            doubled - cost_weight,
        ),
    ]
    built = []
    for name, settings, dropped, shift in candidates:
        policy = make_policy(
            settings,
            context_namespaces=context_namespaces(escalation=config.escalation_for is not None),
            arm_namespaces=ARM_NAMESPACES,
        )
        steps = [
            LoggedStep(
                Context(tuple(ns for ns in row.context.namespaces if ns.name not in dropped)),
                row.arms,
                row.chosen,
                row.pmf[row.chosen],
                row.reward - shift * (row.cost_usd or 0.0),
            )
            for row in rows
        ]
        pmfs = progressive_pmfs(policy, steps)
        by_context = {id(row.context): pmf for row, pmf in zip(rows, pmfs, strict=True)}
        built.append((name, _lookup(by_context), shift))
    return built


def _lookup(pmfs: Mapping[int, Sequence[float]]) -> Target:
    def target(context: Context, arms: tuple[Arm, ...]) -> Sequence[float]:
        return pmfs[id(context)]

    return target


def _always(model: str) -> Callable[[Context, tuple[Arm, ...]], Sequence[float]]:
    def target(context: Context, arms: tuple[Arm, ...]) -> Sequence[float]:
        return [1.0 if arm.id == model else 0.0 for arm in arms]

    return target


def _logged(
    rows: Sequence[RewardedDecision], value: Callable[[RewardedDecision], float]
) -> list[LoggedDecision]:
    return [
        LoggedDecision(row.context, row.arms, row.chosen, row.pmf[row.chosen], value(row))
        for row in rows
    ]


def _report(
    name: str,
    rows: Sequence[RewardedDecision],
    target: Callable[[Context, tuple[Arm, ...]], Sequence[float]],
    resamples: int,
    seed: int,
    reward_shift: float = 0.0,
) -> TargetReport:
    log = _logged(rows, lambda row: row.reward - reward_shift * (row.cost_usd or 0.0))
    reward = {
        "ips": ips(log, target, resamples=resamples, seed=seed),
        "snips": snips(log, target, resamples=resamples, seed=seed),
        "doubly_robust": doubly_robust(log, target, resamples=resamples, seed=seed),
    }
    return TargetReport(
        name=name,
        decisions=len(rows),
        reward=reward,
        quality=_snips_of(rows, target, lambda row: row.quality),
        cost_usd=_snips_of(rows, target, lambda row: row.cost_usd),
    )


def _snips_of(
    rows: Sequence[RewardedDecision],
    target: Callable[[Context, tuple[Arm, ...]], Sequence[float]],
    value: Callable[[RewardedDecision], float | None],
) -> float | None:
    present = [row for row in rows if value(row) is not None]
    if len(present) < 2:
        return None
    log = _logged(present, lambda row: float(value(row) or 0.0))
    try:
        return snips(log, target, resamples=1, seed=0).value
    except InvalidInputError:  # the target never agrees with the log: no estimate
        return None


def _bounds(estimate: Estimate) -> tuple[float, float] | None:
    if estimate.lower is None or estimate.upper is None:
        return None
    return estimate.lower, estimate.upper


def _interval(estimate: Estimate) -> str:
    bounds = _bounds(estimate)
    if bounds is None:
        return f"{estimate.value:.4f} [interval undefined]"
    return f"{estimate.value:.4f} [{bounds[0]:.4f}, {bounds[1]:.4f}]"


def _verdict(logging: TargetReport, singles: Sequence[TargetReport]) -> tuple[str, bool | None]:
    if not singles:
        return "No single model appears in the log, so there is nothing to compare with.", None
    best = max(singles, key=lambda t: t.reward["doubly_robust"].value)
    router = logging.reward["doubly_robust"]
    single = best.reward["doubly_robust"]
    summary = (
        f"the router's mean reward is {_interval(router)} and the best single model "
        f"({best.name.removeprefix('only ')}) would get {_interval(single)} (doubly robust, "
        f"{len(singles)} models compared)"
    )
    ours, theirs = _bounds(router), _bounds(single)
    if ours is None or theirs is None:
        return f"Not clear yet, an interval is undefined on this log: {summary}.", None
    if ours[0] > theirs[1]:
        return f"Yes, the router pays off: {summary}.", True
    if ours[1] < theirs[0]:
        return f"No, routing everything to the best single model would do better: {summary}.", False
    return f"Not clear yet, the intervals overlap: {summary}.", None
