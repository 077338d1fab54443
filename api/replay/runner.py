"""Run a replay: featurise once, split, then learn and evaluate per cost weight."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from api.replay.cascade import cascade_events, run_cascade
from api.replay.dataset import DatasetRow
from api.replay.defaults import COST_WEIGHTS
from bandit.budget import REPLAY_CALIBRATION, Budget, BudgetedPolicy, ControllerSettings
from bandit.cascade import CascadeSpec
from bandit.cascade_replay import CascadeEvent, CascadeResult
from bandit.factory import make_policy
from bandit.replay import (
    Baselines,
    Point,
    ReplayEvent,
    ReplayResult,
    baselines,
    in_holdout,
    replay,
)
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from bandit.supervised import FeatureHasher, Matrix, RidgeRouter
from bandit.types import Arm
from features import (
    ARM_NAMESPACES,
    CONTEXT_NAMESPACES,
    Embedder,
    FeatureSettings,
    arm_for_model,
    extract_context,
)
from features.embedding import embedding_namespace

__all__ = [
    "REPLAY_WORD_KEY",
    "BudgetOutcome",
    "CostWeightRun",
    "ReplayOptions",
    "ReplayReport",
    "run_replay",
]

#: Replay hashes prompt words with a fixed key of its own: runs stay reproducible across
#: machines, and no installation's secret is needed (or exposed) to replay a public dataset.
REPLAY_WORD_KEY = b"bandit-router replay words"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    cost_weights: tuple[float, ...] = COST_WEIGHTS
    #: Budgets as shares of the best single model's mean cost per prompt on the training split;
    #: each gives a run of its own beside the cost-weight runs.
    budgets: tuple[float, ...] = ()
    passes: int = 3
    holdout: float = 0.3
    seed: int = 0
    exploration: ExplorationSettings = field(default_factory=ExplorationSettings)
    features: FeatureSettings = field(
        default_factory=lambda: FeatureSettings(text=True, words=False, embedding=True)
    )
    #: Pass each row's ``source`` as the caller feature ``task``, as an application would.
    task_feature: bool = True
    #: Also simulate this cascade at every cost weight and under every budget (the dataset
    #: must carry responses).
    cascade: CascadeSpec | None = None

    def __post_init__(self) -> None:
        if not self.cost_weights and not self.budgets:
            raise ValueError("Give at least one cost weight or budget.")
        for share in self.budgets:
            Budget(cost_share=share, reference="best single model")
        if any(w < 0 for w in self.cost_weights):
            raise ValueError(f"Cost weights must be non-negative, got {self.cost_weights}.")
        if self.passes < 1:
            raise ValueError(f"passes must be at least 1, got {self.passes}.")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"holdout must be between 0 and 1, got {self.holdout}.")


@dataclass(frozen=True, slots=True)
class BudgetOutcome:
    """A budget run's target and where its controller ended."""

    budget: Budget
    usd_per_request: float
    #: The reference model's mean cost per prompt on the training split.
    reference_cost_usd: float
    final_cost_weight: float


@dataclass(frozen=True, slots=True)
class CostWeightRun:
    #: The reward's cost weight; for a budget run, the cost weight its controller ended at.
    cost_weight: float
    result: ReplayResult
    #: The full-information ridge router on the same holdout prompts.
    supervised: Point
    learn_seconds: float
    cascade: CascadeResult | None = None
    budget: BudgetOutcome | None = None

    @property
    def events_per_second(self) -> float:
        return self.result.online.events / self.learn_seconds


@dataclass(frozen=True, slots=True)
class ReplayReport:
    events: int
    train_events: int
    holdout_events: int
    models: tuple[str, ...]
    options: ReplayOptions
    baselines: Baselines
    runs: tuple[CostWeightRun, ...]
    featurise_seconds: float


def featurise(
    rows: Sequence[DatasetRow], options: ReplayOptions, embedder: Embedder | None
) -> list[ReplayEvent]:
    """The same feature code as the server; embeddings are computed in one batch."""
    text_only = FeatureSettings(
        text=options.features.text, words=options.features.words, embedding=False
    )
    vectors = (
        embedder.embed([row.prompt for row in rows])
        if options.features.embedding and embedder is not None
        else None
    )
    if options.features.embedding and vectors is None:
        raise ValueError("Embedding features are switched on but no embedder was given.")
    events = []
    for index, row in enumerate(rows):
        caller = {"task": row.source} if options.task_feature and row.source else None
        context = extract_context(row.prompt, caller, text_only, word_key=REPLAY_WORD_KEY)
        if vectors is not None:
            namespace = embedding_namespace(vectors[index])
            if namespace is not None:
                context = type(context)((*context.namespaces, namespace))
        events.append(ReplayEvent(row.id, context, row.outcomes, row.source or None))
    return events


def replay_arms(models: Sequence[str]) -> tuple[Arm, ...]:
    """The server's arm features, less the price tier: replay datasets carry no prices, and a
    tier shared by every arm would only add interactions that cannot rank them."""
    arms = []
    for model in models:
        arm = arm_for_model(model, input_usd_per_mtok=0.0, output_usd_per_mtok=0.0, declared={})
        arms.append(Arm(arm.id, tuple(ns for ns in arm.namespaces if ns.name == "Model")))
    return tuple(arms)


def run_replay(
    rows: Sequence[DatasetRow],
    options: ReplayOptions,
    *,
    embedder: Embedder | None,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    started = time.perf_counter()
    events = featurise(rows, options, embedder)
    featurise_seconds = time.perf_counter() - started
    split = _split(rows, events, options, progress)
    runs = [_cost_weight_run(split, cost_weight) for cost_weight in options.cost_weights]
    reference_model = _best_model(split.train, split.models)
    reference_cost = sum(e.outcomes[reference_model].cost_usd for e in split.train) / len(
        split.train
    )
    for share in options.budgets:
        budget = Budget(cost_share=share, reference=reference_model)
        runs.append(_budget_run(split, budget, reference_cost))
    return ReplayReport(
        events=len(events),
        train_events=len(split.train),
        holdout_events=len(split.holdout),
        models=split.models,
        options=options,
        baselines=baselines(split.holdout, split.models),
        runs=tuple(runs),
        featurise_seconds=featurise_seconds,
    )


@dataclass(frozen=True, slots=True)
class _Split:
    """What every run of one replay shares: the prompts learned from and those held out, the
    arms, the supervised reference, and the cascade's events when it simulates one."""

    options: ReplayOptions
    models: tuple[str, ...]
    arms: tuple[Arm, ...]
    train: list[ReplayEvent]
    holdout: list[ReplayEvent]
    reference: tuple[FeatureHasher, RidgeRouter]
    holdout_matrix: Matrix
    cascade_train: list[CascadeEvent]
    cascade_holdout: list[CascadeEvent]
    progress: Callable[[int], None] | None


def _split(
    rows: Sequence[DatasetRow],
    events: list[ReplayEvent],
    options: ReplayOptions,
    progress: Callable[[int], None] | None,
) -> _Split:
    models = tuple(sorted(rows[0].outcomes))
    held = functools.partial(in_holdout, seed=options.seed, fraction=options.holdout)
    train = [e for e in events if not held(e.id)]
    holdout = [e for e in events if held(e.id)]
    if not train or not holdout:
        raise ValueError(
            f"The split left {len(train)} training and {len(holdout)} holdout prompts; "
            "both need at least one."
        )
    hasher, router = _fit_reference(train, models)
    cascaded = cascade_events(rows, events, options.cascade) if options.cascade else []
    return _Split(
        options=options,
        models=models,
        arms=replay_arms(models),
        train=train,
        holdout=holdout,
        reference=(hasher, router),
        holdout_matrix=hasher.transform([e.context for e in holdout]),
        cascade_train=[e for e in cascaded if not held(e.id)],
        cascade_holdout=[e for e in cascaded if held(e.id)],
        progress=progress,
    )


def _cost_weight_run(split: _Split, cost_weight: float) -> CostWeightRun:
    options = split.options
    policy = make_policy(
        options.exploration,
        context_namespaces=CONTEXT_NAMESPACES,
        arm_namespaces=ARM_NAMESPACES,
    )
    began = time.perf_counter()
    result = replay(
        split.train,
        split.holdout,
        split.arms,
        RewardRule(cost_weight=cost_weight),
        policy,
        passes=options.passes,
        seed=options.seed,
        progress=split.progress,
    )
    learn_seconds = time.perf_counter() - began
    supervised = _supervised(
        split.reference[1], split.holdout_matrix, split.holdout, split.models, cost_weight
    )
    cascade = _cascade_run(split, cost_weight)
    return CostWeightRun(cost_weight, result, supervised, learn_seconds, cascade=cascade)


def _budget_run(split: _Split, budget: Budget, reference_cost: float) -> CostWeightRun:
    options = split.options
    usd = budget.usd_per_request_for(reference_cost)
    policy = make_policy(
        options.exploration,
        context_namespaces=CONTEXT_NAMESPACES,
        arm_namespaces=ARM_NAMESPACES,
        budget_usd=usd,
        # The holdout is routed greedily: calibrate its cost weight on recent requests.
        controller=ControllerSettings(calibration=REPLAY_CALIBRATION),
    )
    assert isinstance(policy, BudgetedPolicy)
    began = time.perf_counter()
    result = replay(
        split.train,
        split.holdout,
        split.arms,
        # The cost is the controller's: the regressor learns quality alone.
        RewardRule(cost_weight=0.0),
        policy,
        passes=options.passes,
        seed=options.seed,
        progress=split.progress,
        holdout_choice=policy.greedy,
    )
    learn_seconds = time.perf_counter() - began
    final = policy.status().cost_weight
    policy.close()
    supervised = _supervised(
        split.reference[1], split.holdout_matrix, split.holdout, split.models, final
    )
    # The cascade's own run under the same budget: every call it makes counts.
    cascade = _cascade_run(split, 0.0, budget_usd=usd)
    outcome = BudgetOutcome(budget, usd, reference_cost, final)
    return CostWeightRun(final, result, supervised, learn_seconds, cascade=cascade, budget=outcome)


def _cascade_run(
    split: _Split, cost_weight: float, budget_usd: float | None = None
) -> CascadeResult | None:
    """The simulated cascade's run beside a bandit run, when the replay simulates one."""
    options = split.options
    if options.cascade is None:
        return None
    return run_cascade(
        split.cascade_train,
        split.cascade_holdout,
        options.cascade,
        replay_arms,
        cost_weight,
        options.exploration,
        passes=options.passes,
        seed=options.seed,
        budget_usd=budget_usd,
    )


def _best_model(events: Sequence[ReplayEvent], models: Sequence[str]) -> str:
    """The best single model on ``events``: highest mean quality, then lowest mean cost."""

    def key(model: str) -> tuple[float, float]:
        quality = sum(e.outcomes[model].quality for e in events)
        cost = sum(e.outcomes[model].cost_usd for e in events)
        return quality, -cost

    return max(models, key=key)


def _supervised(
    router: RidgeRouter,
    matrix: Matrix,
    holdout: Sequence[ReplayEvent],
    models: Sequence[str],
    cost_weight: float,
) -> Point:
    chosen = router.choose(matrix, models, cost_weight)
    pairs = list(zip(holdout, chosen, strict=True))
    return Point(
        sum(e.outcomes[m].quality for e, m in pairs) / len(holdout),
        sum(e.outcomes[m].cost_usd for e, m in pairs) / len(holdout),
    )


def _fit_reference(
    train: Sequence[ReplayEvent], models: Sequence[str]
) -> tuple[FeatureHasher, RidgeRouter]:
    hasher = FeatureHasher()
    matrix = hasher.transform([e.context for e in train])
    router = RidgeRouter().fit(
        matrix,
        quality={m: [e.outcomes[m].quality for e in train] for m in models},
        cost={m: [e.outcomes[m].cost_usd for e in train] for m in models},
    )
    return hasher, router
