"""Wire schemas (msgspec). They never leave ``api/``: controllers convert to domain values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from bandit.budget import MAX_COST_SHARE, MAX_USD_PER_REQUEST
from bandit.review import MAX_PER_MODEL, Design
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    ERROR_REWARD_RANGE,
    MAX_COST_USD,
    MAX_COST_WEIGHT,
    MAX_LATENCY_MS,
    MAX_LATENCY_WEIGHT,
    MAX_REWARD_MAGNITUDE,
    MAX_SOURCE_WEIGHT,
    MAX_WAIT_SECONDS,
)
from bandit.settings import MAX_BITS, MIN_BITS, Algorithm, ExplorationSettings
from storage.records import MAX_USD_PER_MTOK

__all__ = [
    "AuditEntryOut",
    "CreatedKeyOut",
    "DecisionOut",
    "ErrorOut",
    "EstimateOut",
    "EvaluationOut",
    "ExplorationIn",
    "FeaturesIn",
    "FeedbackIn",
    "FeedbackOut",
    "HealthOut",
    "KeyIn",
    "KeyOut",
    "LangfuseStatusOut",
    "LearnerOut",
    "ModelIn",
    "ModelOut",
    "PolicyIn",
    "PolicyOut",
    "RankedModel",
    "ResponseIn",
    "ResponseOut",
    "ReviewAgreementOut",
    "ReviewIn",
    "ReviewItemOut",
    "ReviewQualityOut",
    "ReviewQueueOut",
    "ReviewsOut",
    "RewardIn",
    "RewardOut",
    "RollbackIn",
    "RollbackOut",
    "RouteIn",
    "RouteOut",
    "SourceIn",
    "StatusOut",
    "TargetOut",
    "VersionOut",
    "VersionsOut",
    "VoidIn",
    "VoidOut",
]

_EXPLORATION = ExplorationSettings()

NonNegative = Annotated[float, Meta(ge=0.0)]
RewardValue = Annotated[
    float,
    Meta(
        ge=-MAX_REWARD_MAGNITUDE,
        le=MAX_REWARD_MAGNITUDE,
        description=f"A reward, at most {MAX_REWARD_MAGNITUDE:g} in magnitude.",
    ),
]
CostUsd = Annotated[
    float, Meta(ge=0.0, le=MAX_COST_USD, description=f"USD of one call, 0 to {MAX_COST_USD:g}.")
]
LatencyMs = Annotated[
    float,
    Meta(
        ge=0.0,
        le=MAX_LATENCY_MS,
        description=f"Milliseconds of one call, 0 to {MAX_LATENCY_MS:g} (one hour).",
    ),
]
Price = Annotated[
    float,
    Meta(
        ge=0.0,
        le=MAX_USD_PER_MTOK,
        description=f"USD per million tokens, 0 to {MAX_USD_PER_MTOK:g}.",
    ),
]
Identifier = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\s/]+$")]
FeatureValue = str | float | bool
Features = Annotated[dict[str, FeatureValue], Meta(max_length=64)]


class ErrorOut(Struct):
    """Every error answer: the status and a sentence naming the problem."""

    status_code: int
    detail: str
    extra: Any = None


class RouteIn(Struct, forbid_unknown_fields=True):
    policy: str = "default"
    prompt: str | None = None
    features: Features | None = None
    candidates: list[str] | None = None
    decision_id: Identifier | None = None
    unit_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None


class RankedModel(Struct):
    model: str
    probability: float


class RouteOut(Struct):
    decision_id: str
    model: str
    probability: float
    policy: str
    policy_version: int
    ranking: list[RankedModel]
    experiment: dict[str, Any] | None = None
    #: The Langfuse trace this decision names (null when Langfuse is off): write the
    #: application's own generation into it.
    trace_id: str | None = None


class FeedbackIn(Struct, forbid_unknown_fields=True):
    decision_id: str
    score: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    #: A 1-5 star rating, mapped to a score (stars - 1) / 4.
    stars: Annotated[int, Meta(ge=1, le=5)] | None = None
    source: Annotated[str, Meta(min_length=1, max_length=64)] = "user"
    cost_usd: CostUsd | None = None
    latency_ms: LatencyMs | None = None
    error: Annotated[str, Meta(max_length=1000)] | None = None
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    #: The application retried this request on another model (counts in the fallback rate).
    fallback: bool = False
    #: Who scored (a reviewer's name or id): reviewers' agreement is measured per decision.
    reviewer: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    comment: Annotated[str, Meta(max_length=2000)] | None = None


class FeedbackOut(Struct):
    feedback_id: str
    decision_id: str
    source: str
    score: float | None
    cost_usd: float | None
    latency_ms: float | None
    error: str | None
    idempotency_key: str | None
    late: bool
    created_at: float
    fallback: bool
    #: True when this answer repeats an earlier feedback with the same idempotency key.
    duplicate: bool = False
    #: Set when an operator voided this feedback (``POST /v1/feedback/{id}/void``).
    void_reason: str | None = None
    voided_at: float | None = None
    reviewer: str | None = None
    comment: str | None = None


class RewardOut(Struct):
    seq: int
    reward: float
    quality: float | None
    cost_usd: float | None
    latency_ms: float | None
    joined_at: float


class DecisionOut(Struct):
    decision_id: str
    policy: str
    policy_version: int
    policy_revision: int
    model: str
    probability: float
    ranking: list[RankedModel]
    candidates: list[str]
    context: dict[str, dict[str, float]]
    features: dict[str, Any]
    prompt_hash: str | None
    prompt: str | None
    experiment: dict[str, Any] | None
    created_at: float
    join_status: str
    window_closes_at: float | None
    feedback: list[FeedbackOut]
    reward: RewardOut | None
    #: Inclusion probability when the decision was sampled for review; null: not sampled.
    review_probability: float | None = None
    #: The model's answer, when the application posted it and the policy stores prompts.
    response: str | None = None


class ModelIn(Struct, forbid_unknown_fields=True):
    input_usd_per_mtok: Price
    output_usd_per_mtok: Price
    provider: Annotated[str, Meta(max_length=128)] = ""
    features: Features = msgspec.field(default_factory=dict)
    status: Literal["active", "candidate", "retired"] = "active"


class ModelOut(Struct):
    id: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    features: dict[str, FeatureValue]
    status: str


class SourceIn(Struct, forbid_unknown_fields=True):
    weight: Annotated[float, Meta(ge=0.0, le=MAX_SOURCE_WEIGHT)] = 1.0
    aggregation: Literal["earliest", "latest", "mean"] = "earliest"


class RewardIn(Struct, forbid_unknown_fields=True):
    """Every joined reward is clipped into ``reward_range`` before it is learned."""

    wait_seconds: Annotated[
        float, Meta(ge=0.0, le=MAX_WAIT_SECONDS, description="At most 30 days.")
    ] = 0.0
    cost_weight: Annotated[
        float, Meta(ge=0.0, le=MAX_COST_WEIGHT, description="Reward lost per USD.")
    ] = 0.0
    latency_weight: Annotated[
        float, Meta(ge=0.0, le=MAX_LATENCY_WEIGHT, description="Reward lost per second.")
    ] = 0.0
    default_reward: RewardValue | None = None
    #: The quality of a call reported failed (``error``) with no score: -1..1.
    error_reward: Annotated[
        float,
        Meta(
            ge=ERROR_REWARD_RANGE[0],
            le=ERROR_REWARD_RANGE[1],
            description="The quality of a failed call with no score.",
        ),
    ] = 0.0
    reward_range: Annotated[list[RewardValue], Meta(min_length=2, max_length=2)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_REWARD_RANGE)
    )
    sources: Annotated[dict[str, SourceIn], Meta(max_length=64)] = msgspec.field(
        default_factory=dict
    )


class ExplorationIn(Struct, forbid_unknown_fields=True):
    """Defaults are ``ExplorationSettings``'s: one place to change them."""

    algorithm: Algorithm = _EXPLORATION.algorithm
    epsilon: float = _EXPLORATION.epsilon
    gamma_scale: float = _EXPLORATION.gamma_scale
    gamma_exponent: float = _EXPLORATION.gamma_exponent
    min_probability: float = _EXPLORATION.min_probability
    learning_rate: float = _EXPLORATION.learning_rate
    learning_rate_decay: float = _EXPLORATION.learning_rate_decay
    bits: Annotated[int, Meta(ge=MIN_BITS, le=MAX_BITS)] = _EXPLORATION.bits
    seed: int = _EXPLORATION.seed


class FeaturesIn(Struct, forbid_unknown_fields=True):
    text: bool = True
    words: bool = True
    embedding: bool = False


Rate = Annotated[float, Meta(ge=0.0, le=1.0)]


class ReviewIn(Struct, forbid_unknown_fields=True):
    """Sample decisions for human review: ``uniform`` at ``rate``, or ``stratified`` by the
    chosen model (``per_model`` rates, ``rate`` for the others). Off by default."""

    rate: Rate = 0.0
    design: Design = "uniform"
    per_model: Annotated[dict[str, Rate], Meta(max_length=MAX_PER_MODEL)] = msgspec.field(
        default_factory=dict
    )


class BudgetIn(Struct, forbid_unknown_fields=True):
    """A spend target instead of ``reward.cost_weight``: ``cost_share`` of the ``reference``
    model's cost per request, or ``usd_per_request``. The router controls the cost weight."""

    cost_share: Annotated[float, Meta(gt=0.0, le=MAX_COST_SHARE)] | None = None
    reference: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    usd_per_request: Annotated[float, Meta(gt=0.0, le=MAX_USD_PER_REQUEST)] | None = None


class BudgetOut(Struct):
    """The policy's budget and what its controller is doing about it."""

    cost_share: float | None
    reference: str | None
    usd_per_request: float | None
    #: The target in USD per request the learner aims at (resolved when the policy was put).
    target_usd_per_request: float
    #: The cost weight (reward per USD) the controller has set; null before a learner exists.
    cost_weight: float | None
    #: Calls whose cost was observed, and their mean cost (null before any).
    observed_calls: int
    mean_spend_usd: float | None


class PolicyIn(Struct, forbid_unknown_fields=True):
    models: list[str]
    reward: RewardIn = msgspec.field(default_factory=RewardIn)
    exploration: ExplorationIn = msgspec.field(default_factory=ExplorationIn)
    features: FeaturesIn = msgspec.field(default_factory=FeaturesIn)
    store_prompts: bool = False
    #: Delete decisions (with their feedback and rewards) older than this; null keeps all.
    retention_days: Annotated[int, Meta(ge=1, le=3650)] | None = None
    review: ReviewIn = msgspec.field(default_factory=ReviewIn)
    #: Instead of ``reward.cost_weight`` (which must then be 0).
    budget: BudgetIn | None = None


class LearnerOut(Struct):
    """The policy's learner: what it learned, how far it lags the log, what it set aside."""

    #: Interactions learned into the live state (this revision).
    learned_interactions: int
    #: Join sequence number of the last reward learned or quarantined.
    high_water_mark: int
    snapshot_learned_interactions: int
    #: Joined rewards of this policy after the high-water mark: not yet learned.
    lag: int
    #: Joined rewards set aside because they could not be learned (never learned, by any
    #: revision or rebuild).
    quarantined: int
    #: Why the newest quarantined reward was set aside.
    last_quarantine_reason: str | None
    #: Why the last learning round failed for this policy; null when it succeeded.
    last_error: str | None


class PolicyOut(Struct):
    name: str
    revision: int
    version: int
    models: list[str]
    reward: RewardIn
    exploration: ExplorationIn
    features: FeaturesIn
    store_prompts: bool
    retention_days: int | None
    created_at: float
    updated_at: float
    learner: LearnerOut
    review: ReviewIn = msgspec.field(default_factory=ReviewIn)
    budget: BudgetOut | None = None


class HealthOut(Struct):
    """Nothing more than ok or degraded: details are for ``GET /v1/status`` (a read key)."""

    status: Literal["ok", "degraded"]


class LangfuseStatusOut(Struct):
    #: Decisions and feedback waiting for export.
    queued: int
    #: Handed to the Langfuse SDK and flushed.
    exported: int
    #: Dropped because the export queue was full (Langfuse slow or down); router data is
    #: never lost with them.
    dropped: int
    #: Refused by the SDK.
    failed: int
    #: Langfuse scores recorded as feedback (first import; repeats are not counted).
    scores_imported: int
    #: Scores left out: on traces the router did not name, the router's own, with no
    #: source mapping, or numeric without a score config and outside [0, 1].
    scores_skipped: int
    #: Polls of the scores API that failed.
    poll_failures: int
    #: The last poll's error, if it failed.
    last_poll_error: str | None
    #: Sampled decisions added to their policy's annotation queue.
    review_items_added: int = 0
    #: Rounds of adding to annotation queues that failed.
    review_failures: int = 0
    #: The last round's error, if it failed.
    last_review_error: str | None = None


class StatusOut(Struct):
    status: Literal["ok", "degraded"]
    database: str
    policies: int
    #: Why the status is degraded (empty when ok).
    problems: list[str]
    #: Export and import counts; null when Langfuse is off.
    langfuse: LangfuseStatusOut | None = None


Scope = Literal["route", "feedback", "review", "read", "admin"]


class KeyIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=5)]
    #: ``null``: every policy; a list limits the key to those policies (a tenant's).
    policies: Annotated[list[str], Meta(min_length=1, max_length=1000)] | None = None
    #: Epoch seconds after which the key no longer works.
    expires_at: Annotated[float, Meta(gt=0.0, le=1e11)] | None = None
    #: Requests per second (bursts up to one second's worth); ``null``: not limited.
    rate_per_second: Annotated[float, Meta(gt=0.0, le=1e6)] | None = None


class KeyOut(Struct):
    id: str
    name: str
    scopes: list[str]
    policies: list[str] | None
    expires_at: float | None
    revoked_at: float | None
    rate_per_second: float | None
    created_at: float


class CreatedKeyOut(KeyOut):
    #: The secret, shown this once: send it as ``Authorization: Bearer <key>``.
    key: str


class AuditEntryOut(Struct):
    seq: int
    key_id: str
    action: str
    target: str
    before: Any
    after: Any
    at: float


class VersionOut(Struct):
    """A stored snapshot of a policy's learned state, which a rollback can restore."""

    version: int
    revision: int
    learned_count: int
    #: The snapshot includes every unexcluded reward with ``seq`` up to this mark.
    high_water_mark: int
    created_at: float


class VersionsOut(Struct):
    policy: str
    #: The version new decisions are logged with now.
    live_version: int
    #: Newest first.
    versions: list[VersionOut]


class RollbackIn(Struct, forbid_unknown_fields=True):
    version: Annotated[int, Meta(ge=0)]


class RollbackOut(Struct):
    policy: str
    restored_version: int
    #: The new live version: larger than every version served before.
    version: int
    learned_count: int
    high_water_mark: int


class VoidIn(Struct, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(min_length=1, max_length=500)]


class VoidOut(Struct):
    feedback: FeedbackOut
    policy: str
    #: The live version once the void is in force.
    version: int
    #: Whether a learned reward changed and the learner was rebuilt from the log.
    rebuilt: bool


#: Bound on a posted answer: review material, not a transcript.
MAX_RESPONSE_CHARS = 100_000


class ResponseIn(Struct, forbid_unknown_fields=True):
    """The model's answer to a routed request, for reviewers to read beside its prompt."""

    text: Annotated[str, Meta(min_length=1, max_length=MAX_RESPONSE_CHARS)]


class ResponseOut(Struct):
    decision_id: str
    #: Characters stored.
    length: int
    stored_at: float


class ReviewItemOut(Struct):
    """A decision sampled for review: prompt and answer where the policy stores them,
    otherwise what the router saw (the caller's features)."""

    decision_id: str
    policy: str
    model: str
    #: The decision's inclusion probability in the review sample.
    review_probability: float
    created_at: float
    candidates: list[str]
    features: dict[str, Any]
    prompt: str | None
    response: str | None
    #: Reviewer scores the decision already has (from other reviewers).
    reviews: int


class ReviewQueueOut(Struct):
    policy: str
    #: Oldest first.
    items: list[ReviewItemOut]


class EstimateOut(Struct):
    value: float
    lower: float
    upper: float
    effective_sample_size: float


class TargetOut(Struct):
    name: str
    decisions: int
    #: By method: ``ips``, ``snips``, ``doubly_robust``.
    reward: dict[str, EstimateOut]
    quality: float | None
    cost_usd: float | None


class ReviewQualityOut(Struct):
    """Mean reviewer score: of the reviewed decisions (``naive_mean``), and the estimate for
    every decision, each review weighted by 1/its inclusion probability (Hajek)."""

    reviewed_decisions: int
    naive_mean: float
    estimate: float


class ReviewAgreementOut(Struct):
    """Krippendorff's alpha (interval metric) between named reviewers, over the decisions two
    or more of them scored; null with fewer than two such decisions."""

    alpha: float | None
    decisions: int
    reviewers: int


class ReviewsOut(Struct):
    reviewed_decisions: int
    #: The whole policy; null without reviews.
    quality: ReviewQualityOut | None
    models: dict[str, ReviewQualityOut]
    agreement: ReviewAgreementOut


class EvaluationOut(Struct):
    policy: str
    decisions: int
    observed_mean_reward: float
    pays_off: bool | None
    verdict: str
    targets: list[TargetOut]
    #: Reviewer-scored quality of the decisions sampled for review, and reviewer agreement.
    reviews: ReviewsOut
