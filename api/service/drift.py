"""How is a live policy changing? Per-bucket traffic, outcomes, feature shift and KPIs.

The log of one policy in ``[since, until)`` is read once in creation order (at most
:data:`MAX_DECISIONS` decisions, the oldest kept) and cut into buckets of ``bucket_seconds``
starting at ``since`` (or at the first decision). Only buckets with decisions are reported. The
first of them is the reference window for feature shift and reward drops.

Per decision: *reward* is the joined reward; *quality* the joined quality, or before the join
the latest feedback score; *cost* and *latency* the joined values, or the first reported ones;
a *fallback* is a decision with feedback reporting an error or a retry on another model
(``fallback``), or one that a later decision names as ``fallback_of``; a *success* has
quality at or above the success threshold.

Feature shift compares binary presence of the reference window's 50 most frequent context
features (``namespace^feature``) by PSI; a feature absent from the reference is not tracked.
The pmf change replays the fixed probe set (the contexts and candidates of the 50 most recent
decisions read) through the stored snapshots of the current revision (up to the last 5) and
reports the mean total-variation distance between consecutive ones.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from api.service.offload import HeavyJobs
from bandit.drift import presence_psi, quantile, reward_drop, total_variation
from bandit.errors import InvalidInputError
from bandit.factory import make_policy
from bandit.flags import FlagKind
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context
from domain import DecisionRecord
from features import ARM_NAMESPACES, context_namespaces
from storage.engine import create_engine
from storage.export import ExportRange, iter_decisions
from storage.learning_log import recent_snapshots

__all__ = [
    "MAX_DECISIONS",
    "Bucket",
    "DriftQuery",
    "DriftReport",
    "DriftService",
    "FeatureShift",
    "Flag",
    "Kpis",
    "ModelStats",
    "PmfChange",
    "VersionStep",
    "drift_report",
]

#: Decisions read for one report; a range with more keeps its oldest ones.
MAX_DECISIONS = 100_000
TOP_FEATURES = 50
PROBE_SIZE = 50
MAX_SNAPSHOTS = 5
#: Welch's one-sided p-value and the least fall in mean reward that raise a reward-drop flag.
DROP_ALPHA = 0.01
DROP_MIN = 0.05
NO_GROUP = "(none)"

#: The reference window is the first buckets that together hold at least this many
#: decisions (a first bucket of 5 decisions made every later one look shifted).
REFERENCE_MIN_DECISIONS = 200
#: Feature namespaces that are flagged when they shift. Hashed prompt words (``words``) are
#: left out: ``words^ef21ac7e`` means nothing to a person, and a new topic shifts hundreds.
FLAGGED_NAMESPACES = ("caller", "markers", "language", "size")


@dataclass(frozen=True, slots=True)
class DriftQuery:
    """What the caller asks for, validated on construction.

    >>> DriftQuery(bucket_seconds=0)
    Traceback (most recent call last):
    ...
    bandit.errors.InvalidInputError: bucket_seconds must be a positive number, got 0.
    """

    since: float | None = None
    until: float | None = None
    bucket_seconds: float = 3600.0
    success_threshold: float = 0.7
    psi_threshold: float = 0.2
    group_by: str | None = "task"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bucket_seconds) and self.bucket_seconds > 0):
            raise InvalidInputError(
                f"bucket_seconds must be a positive number, got {self.bucket_seconds:g}."
            )
        if not 0.0 <= self.success_threshold <= 1.0:
            raise InvalidInputError(
                f"success_threshold must be between 0 and 1, got {self.success_threshold:g}."
            )
        if not (math.isfinite(self.psi_threshold) and self.psi_threshold > 0):
            raise InvalidInputError(
                f"psi_threshold must be a positive number, got {self.psi_threshold:g}."
            )
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidInputError(f"since ({self.since}) must be before until ({self.until}).")
        if self.group_by is not None and not 1 <= len(self.group_by) <= 128:
            raise InvalidInputError(
                "group_by must name a caller feature of 1 to 128 characters, "
                f"got {self.group_by!r}."
            )


@dataclass(frozen=True, slots=True)
class ModelStats:
    model: str
    decisions: int
    mean_reward: float | None
    mean_quality: float | None
    mean_cost_usd: float | None
    p95_latency_ms: float | None
    cost_per_success_usd: float | None
    fallback_rate: float


@dataclass(frozen=True, slots=True)
class FeatureShift:
    feature: str
    reference_rate: float
    rate: float
    psi: float
    flagged: bool


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    end: float
    decisions: int
    #: Share of decisions per chosen model; sums to 1.
    shares: dict[str, float]
    mean_reward: float | None
    models: tuple[ModelStats, ...]
    feedback_rate: float
    median_feedback_delay_seconds: float | None
    min_policy_version: int
    max_policy_version: int
    feature_shift: tuple[FeatureShift, ...]


@dataclass(frozen=True, slots=True)
class Kpis:
    decisions: int
    cost_per_success_usd: float | None
    p95_latency_ms: float | None
    #: Model utilization ratio: share of decisions per chosen model.
    utilization: dict[str, float]
    #: Mean quality in the last bucket minus the first (None without quality in both).
    quality_drift: float | None
    fallback_rate: float


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    bucket_start: float
    subject: str  # the model or the feature
    message: str


@dataclass(frozen=True, slots=True)
class VersionStep:
    from_learned_count: int
    to_learned_count: int
    mean_total_variation: float


@dataclass(frozen=True, slots=True)
class PmfChange:
    revision: int
    probes: int
    snapshots: tuple[int, ...]  # learned_count of each snapshot compared, oldest first
    steps: tuple[VersionStep, ...]
    mean_total_variation: float | None


@dataclass(frozen=True, slots=True)
class DriftReport:
    policy: str
    since: float | None
    until: float | None
    bucket_seconds: float
    success_threshold: float
    psi_threshold: float
    group_by: str | None
    decisions: int
    max_decisions: int
    truncated: bool
    buckets: tuple[Bucket, ...]
    kpis: Kpis
    groups: dict[str, Kpis]
    flags: tuple[Flag, ...]
    pmf_change: PmfChange


@dataclass(slots=True)
class _Row:
    """What the report needs of one decision; the log's full record is not kept."""

    id: str
    bucket: int
    model: str
    version: int
    group: str
    reward: float | None
    quality: float | None
    cost: float | None
    latency: float | None
    fallback: bool
    feedback_delay: float | None


@dataclass(slots=True)
class _Read:
    rows: list[_Row] = field(default_factory=list)
    features: dict[int, Counter[str]] = field(default_factory=dict)
    probes: deque[tuple[Context, tuple[Arm, ...]]] = field(
        default_factory=lambda: deque(maxlen=PROBE_SIZE)
    )
    origin: float | None = None
    truncated: bool = False


class DriftService:
    """Drift reports run as heavy jobs (see :mod:`api.service.offload`): in a child process that
    reads the log through its own connection to ``database_url``."""

    def __init__(self, database_url: str, catalog: Catalog, jobs: HeavyJobs) -> None:
        self._database_url = database_url
        self._catalog = catalog
        self._jobs = jobs

    async def drift(self, policy: str, query: DriftQuery) -> DriftReport:
        record = self._catalog.policy(policy)  # 404 for an unknown policy
        return await self._jobs.run(
            "drift report",
            drift_report,
            self._database_url,
            policy,
            query,
            record.revision,
            record.config.exploration,
            record.config.escalation_for is not None,
        )


def drift_report(
    database_url: str,
    policy: str,
    query: DriftQuery,
    revision: int,
    exploration: ExplorationSettings,
    escalation: bool = False,
) -> DriftReport:
    """The whole report, synchronous: read the log through a new engine, then summarise.

    ``escalation``: the policy learns a cascade's escalation decisions (more namespaces)."""
    read, snapshots = asyncio.run(_read_all(database_url, policy, query, revision))
    return _report(policy, query, read, revision, exploration, snapshots, escalation)


async def _read_all(
    database_url: str, policy: str, query: DriftQuery, revision: int
) -> tuple[_Read, list[tuple[int, bytes]]]:
    engine = create_engine(database_url)
    try:
        read = await _read(engine, policy, query)
        async with engine.connect() as connection:
            snapshots = await recent_snapshots(
                connection, policy=policy, revision=revision, limit=MAX_SNAPSHOTS
            )
        return read, snapshots
    finally:
        await engine.dispose()


async def _read(engine: AsyncEngine, policy: str, query: DriftQuery) -> _Read:
    read = _Read()
    retried: set[str] = set()
    window = ExportRange(since=query.since, until=query.until)
    async for decision in iter_decisions(engine, policy=policy, window=window):
        if len(read.rows) >= MAX_DECISIONS:
            read.truncated = True
            break
        if read.origin is None:
            read.origin = decision.created_at if query.since is None else query.since
        bucket = int((decision.created_at - read.origin) // query.bucket_seconds)
        read.rows.append(_row(decision, bucket, query.group_by))
        counts = read.features.setdefault(bucket, Counter())
        counts.update(
            {
                f"{namespace.name}^{name}"
                for namespace in decision.context.namespaces
                for name, _ in namespace.features
            }
        )
        read.probes.append((decision.context, decision.arms))
        if decision.fallback_of is not None:
            retried.add(decision.fallback_of)
    # A retry is logged after the decision it retries, so the flags are set once all is read.
    for row in read.rows:
        row.fallback = row.fallback or row.id in retried
    return read


def _row(decision: DecisionRecord, bucket: int, group_by: str | None) -> _Row:
    reward = decision.reward
    feedback = decision.feedback
    scores = [f.score for f in feedback if f.score is not None]
    quality = reward.quality if reward is not None and reward.quality is not None else None
    if quality is None and scores:
        quality = scores[-1]
    group = NO_GROUP
    if group_by is not None and group_by in decision.caller_features:
        group = str(decision.caller_features[group_by])
    return _Row(
        id=decision.id,
        bucket=bucket,
        model=decision.chosen_model,
        version=decision.policy_version,
        group=group,
        reward=None if reward is None else reward.reward,
        quality=quality,
        cost=_first(None if reward is None else reward.cost_usd, (f.cost_usd for f in feedback)),
        latency=_first(
            None if reward is None else reward.latency_ms, (f.latency_ms for f in feedback)
        ),
        fallback=any(f.error or f.fallback for f in feedback),
        feedback_delay=(
            min(f.created_at for f in feedback) - decision.created_at if feedback else None
        ),
    )


def _first(joined: float | None, reported: Iterable[float | None]) -> float | None:
    if joined is not None:
        return joined
    return next((value for value in reported if value is not None), None)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None


def _shares(rows: Sequence[_Row]) -> dict[str, float]:
    counts = Counter(row.model for row in rows)
    return {model: counts[model] / len(rows) for model in sorted(counts)}


def _cost_per_success(rows: Sequence[_Row], threshold: float) -> float | None:
    successes = sum(1 for row in rows if row.quality is not None and row.quality >= threshold)
    if successes == 0:
        return None
    return math.fsum(row.cost for row in rows if row.cost is not None) / successes


def _model_stats(model: str, rows: Sequence[_Row], threshold: float) -> ModelStats:
    return ModelStats(
        model=model,
        decisions=len(rows),
        mean_reward=_mean(row.reward for row in rows),
        mean_quality=_mean(row.quality for row in rows),
        mean_cost_usd=_mean(row.cost for row in rows),
        p95_latency_ms=quantile([row.latency for row in rows if row.latency is not None], 0.95),
        cost_per_success_usd=_cost_per_success(rows, threshold),
        fallback_rate=sum(row.fallback for row in rows) / len(rows),
    )


def _kpis(rows: Sequence[_Row], threshold: float) -> Kpis:
    by_bucket: dict[int, list[_Row]] = {}
    for row in rows:
        by_bucket.setdefault(row.bucket, []).append(row)
    first = _mean(row.quality for row in by_bucket[min(by_bucket)]) if rows else None
    last = _mean(row.quality for row in by_bucket[max(by_bucket)]) if rows else None
    return Kpis(
        decisions=len(rows),
        cost_per_success_usd=_cost_per_success(rows, threshold),
        p95_latency_ms=quantile([row.latency for row in rows if row.latency is not None], 0.95),
        utilization=_shares(rows) if rows else {},
        quality_drift=None if first is None or last is None else last - first,
        fallback_rate=sum(row.fallback for row in rows) / len(rows) if rows else 0.0,
    )


def _feature_shift(
    reference: Counter[str], reference_n: int, current: Counter[str], current_n: int, limit: float
) -> tuple[FeatureShift, ...]:
    top = sorted(reference.items(), key=lambda item: (-item[1], item[0]))[:TOP_FEATURES]
    shifts = []
    for feature, count in top:
        ref_rate, rate = count / reference_n, current[feature] / current_n
        value = presence_psi(ref_rate, rate)
        shifts.append(FeatureShift(feature, ref_rate, rate, value, value > limit))
    return tuple(shifts)


def _report(
    policy: str,
    query: DriftQuery,
    read: _Read,
    revision: int,
    exploration: ExplorationSettings,
    snapshots: Sequence[tuple[int, bytes]],
    escalation: bool = False,
) -> DriftReport:
    rows = read.rows
    by_bucket = _by(rows, lambda row: row.bucket)
    indices = sorted(by_bucket)
    buckets: list[Bucket] = []
    flags: list[Flag] = []
    reference = _reference_buckets(indices, by_bucket)
    reference_rows = [row for index in reference for row in by_bucket[index]]
    reference_features: Counter[str] = Counter()
    for index in reference:
        reference_features.update(read.features[index])
    origin = read.origin or 0.0
    for index in indices:
        members = by_bucket[index]
        start = origin + index * query.bucket_seconds
        models = _by(members, lambda row: row.model)
        shift = _feature_shift(
            reference_features,
            len(reference_rows),
            read.features[index],
            len(members),
            # A bucket of the reference window is not flagged against itself.
            math.inf if index in reference else query.psi_threshold,
        )
        buckets.append(_bucket(start, query, members, models, shift))
        if index in reference:
            continue
        flags += _shift_flags(start, shift, query.psi_threshold)
        flags += _reward_drops(reference_rows, models, start)
        flags += _quality_drops(reference_rows, members, start, query.group_by)
    groups = _by(rows, lambda row: row.group)
    return DriftReport(
        policy=policy,
        since=query.since,
        until=query.until,
        bucket_seconds=query.bucket_seconds,
        success_threshold=query.success_threshold,
        psi_threshold=query.psi_threshold,
        group_by=query.group_by,
        decisions=len(rows),
        max_decisions=MAX_DECISIONS,
        truncated=read.truncated,
        buckets=tuple(buckets),
        kpis=_kpis(rows, query.success_threshold),
        groups={
            name: _kpis(groups[name], query.success_threshold)
            for name in sorted(groups)
            if query.group_by is not None
        },
        flags=tuple(flags),
        pmf_change=_pmf_change(revision, exploration, snapshots, list(read.probes), escalation),
    )


_K = TypeVar("_K")


def _by(rows: Iterable[_Row], key: Callable[[_Row], _K]) -> dict[_K, list[_Row]]:
    """``rows`` grouped by ``key``, each group in the rows' order."""
    grouped: dict[_K, list[_Row]] = {}
    for row in rows:
        grouped.setdefault(key(row), []).append(row)
    return grouped


def _reference_buckets(indices: Sequence[int], by_bucket: Mapping[int, list[_Row]]) -> set[int]:
    """The first buckets that hold ``REFERENCE_MIN_DECISIONS`` together, or half the range's
    decisions when it holds fewer than twice that (the other half is what is compared), and
    never the last bucket of several."""
    total = sum(len(by_bucket[index]) for index in indices)
    enough = min(REFERENCE_MIN_DECISIONS, total / 2)
    chosen: set[int] = set()
    held = 0
    for index in indices[:-1] if len(indices) > 1 else indices:
        chosen.add(index)
        held += len(by_bucket[index])
        if held >= enough:
            break
    return chosen


def _quality_drops(
    reference: Sequence[_Row], members: Sequence[_Row], start: float, group_by: str | None
) -> list[Flag]:
    """A model whose quality on one task (the ``group_by`` feature) fell: what a provider's
    silent change looks like, and what a policy-wide mean hides."""
    flags = []
    before = _by(reference, lambda row: (row.model, row.group))
    now = _by(members, lambda row: (row.model, row.group))
    for model, group in sorted(now):
        test = reward_drop(
            [r.quality for r in before.get((model, group), ()) if r.quality is not None],
            [r.quality for r in now[model, group] if r.quality is not None],
            alpha=DROP_ALPHA,
            min_drop=DROP_MIN,
        )
        if test is None or not test.significant:
            continue
        where = "" if group_by is None or group == NO_GROUP else f" on {group_by}={group}"
        flags.append(
            Flag(
                "quality_drop",
                start,
                model if not where else f"{model} ({group_by}={group})",
                f"Model {model!r}{where} scores a mean quality of {test.current_mean:.3f} "
                f"against {test.reference_mean:.3f} in the reference window (drop "
                f"{test.drop:.3f}, Welch p = {test.p_value:.2g}).",
            )
        )
    return flags


def _shift_flags(start: float, shift: tuple[FeatureShift, ...], threshold: float) -> list[Flag]:
    return [
        Flag(
            "feature_shift",
            start,
            s.feature,
            f"Feature {s.feature!r} is present in {s.rate:.1%} of decisions against "
            f"{s.reference_rate:.1%} in the reference window (PSI {s.psi:.3f} > "
            f"{threshold:g}).",
        )
        for s in shift
        if s.flagged and s.feature.split("^", 1)[0] in FLAGGED_NAMESPACES
    ]


def _bucket(
    start: float,
    query: DriftQuery,
    members: list[_Row],
    models: dict[str, list[_Row]],
    shift: tuple[FeatureShift, ...],
) -> Bucket:
    """One time bucket of the report: its decisions, shares, rewards and feedback."""
    delays = [row.feedback_delay for row in members if row.feedback_delay is not None]
    return Bucket(
        start=start,
        end=start + query.bucket_seconds,
        decisions=len(members),
        shares=_shares(members),
        mean_reward=_mean(row.reward for row in members),
        models=tuple(
            _model_stats(model, models[model], query.success_threshold) for model in sorted(models)
        ),
        feedback_rate=len(delays) / len(members),
        median_feedback_delay_seconds=quantile(delays, 0.5),
        min_policy_version=min(row.version for row in members),
        max_policy_version=max(row.version for row in members),
        feature_shift=shift,
    )


def _reward_drops(
    reference: Sequence[_Row], models: dict[str, list[_Row]], start: float
) -> list[Flag]:
    flags = []
    for model in sorted(models):
        before = [r.reward for r in reference if r.model == model and r.reward is not None]
        now = [r.reward for r in models[model] if r.reward is not None]
        test = reward_drop(before, now, alpha=DROP_ALPHA, min_drop=DROP_MIN)
        if test is not None and test.significant:
            flags.append(
                Flag(
                    "reward_drop",
                    start,
                    model,
                    f"Model {model!r} earns a mean reward of {test.current_mean:.3f} against "
                    f"{test.reference_mean:.3f} in the reference window (drop {test.drop:.3f}, "
                    f"Welch p = {test.p_value:.2g}).",
                )
            )
    return flags


def _pmf_change(
    revision: int,
    exploration: ExplorationSettings,
    snapshots: Sequence[tuple[int, bytes]],
    probes: Sequence[tuple[Context, tuple[Arm, ...]]],
    escalation: bool = False,
) -> PmfChange:
    pmfs: list[list[tuple[float, ...]]] = []
    for _, data in snapshots:
        policy = make_policy(
            exploration,
            context_namespaces=context_namespaces(escalation=escalation),
            arm_namespaces=ARM_NAMESPACES,
            snapshot=data,
        )
        try:
            pmfs.append([tuple(policy.predict(context, arms)) for context, arms in probes])
        finally:
            close = getattr(policy, "close", None)
            if callable(close):
                close()
    steps = []
    if probes:
        for i in range(1, len(pmfs)):
            distance = math.fsum(
                total_variation(a, b) for a, b in zip(pmfs[i - 1], pmfs[i], strict=True)
            ) / len(probes)
            steps.append(VersionStep(snapshots[i - 1][0], snapshots[i][0], distance))
    return PmfChange(
        revision=revision,
        probes=len(probes),
        snapshots=tuple(count for count, _ in snapshots),
        steps=tuple(steps),
        mean_total_variation=_mean(step.mean_total_variation for step in steps),
    )
