"""Wire schemas (msgspec). They never leave ``api/``: controllers convert to domain values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from bandit.budget import MAX_COST_SHARE, MAX_USD_PER_REQUEST
from bandit.eligibility import MAX_REQUIRED_TAGS
from bandit.health import MAX_COOLDOWN_SECONDS, MAX_MIN_CALLS, MAX_WINDOW_SECONDS, HealthSettings
from bandit.review import MAX_PER_MODEL, Design
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    ERROR_REWARD_RANGE,
    MAX_COST_WEIGHT,
    MAX_LATENCY_WEIGHT,
    MAX_REWARD_MAGNITUDE,
    MAX_SOURCE_WEIGHT,
    MAX_WAIT_SECONDS,
)
from bandit.settings import MAX_BITS, MIN_BITS, Algorithm, ExplorationSettings
from domain import MAX_COST_USD, MAX_LATENCY_MS, MAX_TOKENS, MAX_USD_PER_MTOK
from experiments import DEFAULT_STAGES
from features.signals import MAX_ANSWER_CHARS, MAX_ANSWER_LENGTH

__all__ = [
    "AppliedConstraintsOut",
    "ArmOut",
    "ArmsOut",
    "AuditEntryOut",
    "BudgetIn",
    "BudgetOut",
    "CascadeIn",
    "CascadeStepOut",
    "ChatChoiceOut",
    "ChatCompletionOut",
    "ChatFunctionCallOut",
    "ChatMessageOut",
    "ChatToolCallOut",
    "ChatUsageOut",
    "ConstraintsIn",
    "CooldownOut",
    "CreatedKeyOut",
    "DecisionOut",
    "DriftBucketOut",
    "DriftFlagOut",
    "DriftModelOut",
    "DriftOut",
    "ErrorOut",
    "EscalateIn",
    "EstimateOut",
    "EvaluationOut",
    "EvidenceOut",
    "ExperimentAssignmentOut",
    "ExperimentIn",
    "ExperimentOut",
    "ExperimentReportOut",
    "ExperimentTransitionOut",
    "ExperimentVerdictOut",
    "ExplorationIn",
    "FeatureShiftOut",
    "FeaturesIn",
    "FeedbackIn",
    "FeedbackOut",
    "GuardrailCheckOut",
    "GuardrailsIn",
    "GuardrailsOut",
    "HealthOut",
    "KeyIn",
    "KeyOut",
    "KpisOut",
    "LangfuseStatusOut",
    "LearnerOut",
    "ModelHealthIn",
    "ModelIn",
    "ModelOut",
    "PmfChangeOut",
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
    "RoutingOut",
    "SignalsIn",
    "SourceIn",
    "StageCountsOut",
    "StatusOut",
    "TargetOut",
    "VersionOut",
    "VersionStepOut",
    "VersionsOut",
    "VoidIn",
    "VoidOut",
]

_EXPLORATION = ExplorationSettings()
_HEALTH = HealthSettings()

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
Tokens = Annotated[
    int, Meta(ge=0, le=MAX_TOKENS, description=f"Tokens of one call, 0 to {MAX_TOKENS}.")
]
Identifier = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\s/]+$")]
FeatureValue = str | float | bool
Features = Annotated[dict[str, FeatureValue], Meta(max_length=64)]
MaxCostUsd = Annotated[
    float,
    Meta(
        gt=0.0,
        le=MAX_COST_USD,
        description="Models whose estimated cost for this prompt (its tokens at the input "
        "price plus the model's observed output length at the output price) is above this "
        "are not eligible.",
    ),
]
MaxLatencyMs = Annotated[
    float,
    Meta(
        gt=0.0,
        le=MAX_LATENCY_MS,
        description="Models whose observed p95 latency is above this are not eligible "
        "(a model not yet observed is).",
    ),
]
Require = Annotated[
    dict[str, FeatureValue],
    Meta(
        max_length=MAX_REQUIRED_TAGS,
        description='Tags a model must carry in its features, e.g. {"region": "eu"}.',
    ),
]


Unit = Annotated[float, Meta(ge=0.0, le=1.0)]
AnswerText = Annotated[str, Meta(max_length=MAX_ANSWER_CHARS)]


class SignalsIn(Struct, forbid_unknown_fields=True):
    """What the application knows about the first answer; every field is optional. The
    answer texts are turned into features and never stored (unless the policy stores
    prompts)."""

    #: A judge's score of the first answer.
    judge_score: Unit | None = None
    #: The first model's own confidence.
    confidence: Unit | None = None
    #: Whether two cheap answers agree (the router decides it from both texts if left out).
    agree: bool | None = None
    #: The first answer's length in characters (taken from ``answer`` when only it is sent).
    answer_chars: Annotated[int, Meta(ge=0, le=MAX_ANSWER_LENGTH)] | None = None
    answer: AnswerText | None = None
    #: The probe model's answer to the same prompt, when the cascade has a probe.
    probe_answer: AnswerText | None = None


class EscalateIn(Struct, forbid_unknown_fields=True):
    """Ask a cascade's escalation question about a first-stage decision."""

    from_: Identifier = msgspec.field(name="from")
    signals: SignalsIn = msgspec.field(default_factory=SignalsIn)
    #: USD already spent on the request (the first call and the probe's). Omitted: the cost
    #: reported so far in feedback on the first decision.
    cost_usd: CostUsd | None = None


class CascadeIn(Struct, forbid_unknown_fields=True):
    """Routes start at ``first`` (one model, or the bandit's choice among several); an
    optional ``probe`` answers too; the escalation decision picks ``accept`` or one of
    ``escalate``."""

    first: Annotated[list[str], Meta(min_length=1, max_length=32)]
    escalate: Annotated[list[str], Meta(min_length=1, max_length=32)]
    probe: str | None = None
    #: A model (with an endpoint) that scores the first answer for the escalation decision
    #: when the proxy (``POST /v1/chat/completions``) runs the cascade.
    judge: str | None = None


class CascadeStepOut(Struct):
    """Where a routed request stands in its policy's cascade."""

    stage: Literal["first", "escalation"]
    #: The policy that learns the escalation decisions.
    escalation_policy: str
    #: The model to ask beside the first (first stage only).
    probe: str | None = None
    #: The first-stage decision this escalation is about (escalation only).
    escalation_of: str | None = None


class ConstraintsIn(Struct, forbid_unknown_fields=True):
    """Limits every request of a policy meets; a request may only tighten them."""

    max_cost_usd: MaxCostUsd | None = None
    max_latency_ms: MaxLatencyMs | None = None
    require: Require = msgspec.field(default_factory=dict)


class RoutingOut(Struct):
    """What a decision logged about its routing rules."""

    #: The limits that applied (policy, request and key together); unset ones are absent.
    constraints: AppliedConstraintsOut
    #: Each model left out, with the sentence naming the constraint that excluded it.
    excluded: dict[str, str]
    fallbacks: list[str]
    #: Every eligible model was cooling down, so the cooldowns were not applied.
    cooldowns_ignored: bool
    #: Models already tried for this request (a fallback chain's earlier attempts).
    tried: list[str]


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
    max_cost_usd: MaxCostUsd | None = None
    max_latency_ms: MaxLatencyMs | None = None
    require: Require | None = None
    #: This request retries decision ``fallback_of``, whose model failed: the router chooses
    #: among the models not yet tried, and the new decision is learned and counted on its own.
    fallback_of: Identifier | None = None
    #: Ask the policy's cascade whether to keep a first answer or escalate: the answer's
    #: ``model`` is ``"accept"`` or a stronger model.
    escalate: EscalateIn | None = None


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
    experiment: ExperimentAssignmentOut | None = None
    #: The Langfuse trace this decision names (null when Langfuse is off): write the
    #: application's own generation into it.
    trace_id: str | None = None
    #: The other eligible, healthy models, best first: where to go when ``model`` fails
    #: (send the retry as a route with ``fallback_of`` so it is learned).
    fallbacks: list[str] = msgspec.field(default_factory=list)
    #: Models of the policy that were not eligible for this request, and why.
    excluded: dict[str, str] = msgspec.field(default_factory=dict)
    fallback_of: str | None = None
    #: Null unless the policy defines a cascade.
    cascade: CascadeStepOut | None = None


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
    #: Tokens the call consumed and produced, as the provider counted them: the observed
    #: output length estimates what a model will cost.
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None


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
    input_tokens: int | None = None
    output_tokens: int | None = None


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
    #: The caller's features.
    features: dict[str, FeatureValue]
    prompt_hash: str | None
    prompt: str | None
    experiment: ExperimentAssignmentOut | None
    created_at: float
    join_status: str
    window_closes_at: float | None
    feedback: list[FeedbackOut]
    reward: RewardOut | None
    #: Inclusion probability when the decision was sampled for review; null: not sampled.
    review_probability: float | None = None
    #: The model's answer, when the application posted it and the policy stores prompts.
    response: str | None = None
    #: Null for decisions logged before routing rules existed.
    routing: RoutingOut | None = None
    fallback_of: str | None = None
    escalation_of: str | None = None
    #: USD spent on the request before this decision, added to its cost in the reward.
    prior_cost_usd: float | None = None


class EndpointIn(Struct, forbid_unknown_fields=True):
    """How the proxy (``POST /v1/chat/completions``) calls the model. ``api_key_env`` names the
    environment variable holding the key, one of ``BANDIT_ROUTER_PROVIDER_KEY_ENVS``."""

    api: Literal["openai", "anthropic"]
    base_url: Annotated[str, Meta(max_length=2048, examples=["https://api.openai.com/v1"])]
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    api_key_env: Annotated[str, Meta(max_length=128)] | None = None


class EndpointOut(Struct):
    api: str
    base_url: str
    model: str
    api_key_env: str | None


class ModelIn(Struct, forbid_unknown_fields=True):
    input_usd_per_mtok: Price
    output_usd_per_mtok: Price
    provider: Annotated[str, Meta(max_length=128)] = ""
    features: Features = msgspec.field(default_factory=dict)
    status: Literal["active", "candidate", "retired"] = "active"
    endpoint: EndpointIn | None = None


class ModelOut(Struct):
    id: str
    provider: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    features: dict[str, FeatureValue]
    status: str
    #: How the proxy calls it; null: the proxy leaves it out.
    endpoint: EndpointOut | None = None


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


class ModelHealthIn(Struct, forbid_unknown_fields=True):
    """A model cools down (routing leaves it out for ``cooldown_seconds``) when at least
    ``min_calls`` of its calls got feedback in the last ``window_seconds`` and more than
    ``max_error_rate`` of them reported an ``error``; it is re-admitted by itself. A call is
    a decision with feedback, counted once. ``max_error_rate`` 1 turns cooling off."""

    window_seconds: Annotated[
        float, Meta(gt=0.0, le=MAX_WINDOW_SECONDS, description="At most a day.")
    ] = _HEALTH.window_seconds
    min_calls: Annotated[int, Meta(ge=1, le=MAX_MIN_CALLS)] = _HEALTH.min_calls
    max_error_rate: Annotated[float, Meta(ge=0.0, le=1.0)] = _HEALTH.max_error_rate
    cooldown_seconds: Annotated[
        float, Meta(gt=0.0, le=MAX_COOLDOWN_SECONDS, description="At most a day.")
    ] = _HEALTH.cooldown_seconds


class CooldownOut(Struct):
    """A model the policy leaves out of routing until ``until`` (epoch seconds)."""

    model: str
    since: float
    until: float
    #: A sentence: the failures that cooled it, and the last error.
    reason: str


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
    constraints: ConstraintsIn = msgspec.field(default_factory=ConstraintsIn)
    cascade: CascadeIn | None = None
    health: ModelHealthIn = msgspec.field(default_factory=ModelHealthIn)
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
    constraints: ConstraintsIn = msgspec.field(default_factory=ConstraintsIn)
    cascade: CascadeIn | None = None
    #: Set on a policy that learns another policy's escalation decisions (its name).
    escalation_for: str | None = None
    health: ModelHealthIn = msgspec.field(default_factory=ModelHealthIn)
    #: The models cooling down now (left out of routing), with why and until when.
    cooldowns: list[CooldownOut] = msgspec.field(default_factory=list)
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
    #: ``learner``: this process joins rewards, writes snapshots and runs experiment checks
    #: (one process at a time); ``follower``: it routes and learns the joined rewards.
    role: Literal["learner", "follower"] = "learner"
    #: Interactions this process's learners hold (their live revisions), in all and per policy.
    learned_interactions: int = 0
    learned_by_policy: dict[str, int] = msgspec.field(default_factory=dict)


Scope = Literal["route", "feedback", "review", "read", "admin"]


class KeyIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=5)]
    #: ``null``: every policy; a list limits the key to those policies (a tenant's).
    policies: Annotated[list[str], Meta(min_length=1, max_length=1000)] | None = None
    #: ``null``: any model; a list: the only models this key's requests may be routed to.
    models: Annotated[list[str], Meta(min_length=1, max_length=1000)] | None = None
    #: Epoch seconds after which the key no longer works.
    expires_at: Annotated[float, Meta(gt=0.0, le=1e11)] | None = None
    #: Requests per second (bursts up to one second's worth); ``null``: not limited.
    rate_per_second: Annotated[float, Meta(gt=0.0, le=1e6)] | None = None


class KeyOut(Struct):
    id: str
    name: str
    scopes: list[str]
    policies: list[str] | None
    models: list[str] | None
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
    #: The caller's features.
    features: dict[str, FeatureValue]
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


class ExperimentAssignmentOut(Struct):
    """The experiment arm a decision was assigned to."""

    id: str
    arm: Literal["candidate", "control"]
    #: The candidate's share of traffic at the decision's stage.
    share: float
    #: Index of the stage (into the experiment's ``stages``).
    stage: int


class AppliedConstraintsOut(Struct, omit_defaults=True):
    """The limits a decision was routed under; unset ones are absent."""

    max_cost_usd: float | None = None
    max_latency_ms: float | None = None
    require: dict[str, FeatureValue] | None = None
    #: The models the caller's key may be routed to.
    allowed_models: list[str] | None = None


# --- drift (GET /v1/policies/{name}/drift) -------------------------------------------------


class DriftModelOut(Struct):
    model: str
    decisions: int
    mean_reward: float | None
    mean_quality: float | None
    mean_cost_usd: float | None
    p95_latency_ms: float | None
    cost_per_success_usd: float | None
    fallback_rate: float


class FeatureShiftOut(Struct):
    feature: str
    #: Share of decisions with the feature in the first bucket.
    reference_rate: float
    rate: float
    #: Population stability index against the first bucket.
    psi: float
    flagged: bool


class DriftBucketOut(Struct):
    start: float
    end: float
    decisions: int
    #: Share of decisions per chosen model; sums to 1.
    shares: dict[str, float]
    mean_reward: float | None
    models: list[DriftModelOut]
    feedback_rate: float
    median_feedback_delay_seconds: float | None
    min_policy_version: int
    max_policy_version: int
    feature_shift: list[FeatureShiftOut]


class KpisOut(Struct):
    decisions: int
    cost_per_success_usd: float | None
    p95_latency_ms: float | None
    #: Share of decisions per chosen model.
    utilization: dict[str, float]
    #: Mean quality in the last bucket minus the first (null without quality in both).
    quality_drift: float | None
    fallback_rate: float


class DriftFlagOut(Struct):
    kind: Literal["reward_drop", "feature_shift"]
    bucket_start: float
    #: The model (reward drop) or the feature (feature shift).
    subject: str
    message: str


class VersionStepOut(Struct):
    from_learned_count: int
    to_learned_count: int
    mean_total_variation: float


class PmfChangeOut(Struct):
    revision: int
    probes: int
    #: ``learned_count`` of each snapshot compared, oldest first.
    snapshots: list[int]
    steps: list[VersionStepOut]
    mean_total_variation: float | None


class DriftOut(Struct):
    policy: str
    since: float | None
    until: float | None
    bucket_seconds: float
    success_threshold: float
    psi_threshold: float
    group_by: str | None
    decisions: int
    max_decisions: int
    #: More than ``max_decisions`` decisions matched; the oldest were read.
    truncated: bool
    buckets: list[DriftBucketOut]
    kpis: KpisOut
    #: KPIs per value of the caller feature ``group_by``.
    groups: dict[str, KpisOut]
    flags: list[DriftFlagOut]
    pmf_change: PmfChangeOut


# --- experiments (/v1/experiments) ---------------------------------------------------------

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


class GuardrailsOut(Struct):
    max_quality_drop: float | None
    max_cost_ratio: float | None
    max_latency_p95_ratio: float | None
    max_error_rate_increase: float | None


class ExperimentOut(Struct):
    """An experiment's spec and where it stands."""

    id: str
    #: ``running``, ``paused``, ``completed`` or ``rolled_back``.
    status: str
    #: Index of the current stage into ``stages``.
    stage: int
    #: The candidate's share of traffic now.
    share: float
    created_at: float
    updated_at: float
    policy: str
    candidate: str
    stages: list[float]
    min_feedback_per_stage: int
    margin: float
    alpha: float
    mode: Literal["add", "replace"]
    replaces: str | None
    guardrails: GuardrailsOut


class ArmOut(Struct):
    """One arm's cumulative statistics (null until it has the data)."""

    feedback: int
    mean_reward: float | None
    mean_quality: float | None
    mean_cost_usd: float | None
    error_rate: float | None
    latency_p95_ms: float | None


class ArmsOut(Struct):
    candidate: ArmOut
    control: ArmOut


class StageCountsOut(Struct):
    """Units routed and feedback per arm since the current stage began."""

    units_candidate: int
    units_control: int
    feedback_candidate: int
    feedback_control: int


class GuardrailCheckOut(Struct):
    name: Literal["quality_drop", "cost_ratio", "latency_p95_ratio", "error_rate_increase"]
    limit: float | None
    estimate: float | None
    bound: float | None
    status: Literal["ok", "insufficient", "suspect", "breached"]


class EvidenceOut(Struct):
    """What a verdict rests on (non-finite numbers are null). Counts and means are
    cumulative; ``stage`` holds the current stage's counts; the reward fields describe the
    always-valid sequence for candidate minus control (null before the burn-in)."""

    stage_index: int
    share: float
    candidate_feedback: int
    control_feedback: int
    stage: StageCountsOut
    candidate_mean_reward: float | None
    control_mean_reward: float | None
    difference: float | None
    lower: float | None
    upper: float | None
    e_value: float | None
    p_value: float | None
    alpha: float
    margin: float
    srm_p_value: float | None
    guardrails: list[GuardrailCheckOut]


class ExperimentVerdictOut(Struct):
    action: Literal["continue", "next_stage", "complete", "rollback", "pause"]
    reason: str
    evidence: EvidenceOut


class ExperimentTransitionOut(Struct):
    action: str
    from_status: str
    to_status: str
    from_stage: int
    to_stage: int
    reason: str
    manual: bool
    #: The evidence stored with the transition (null for the start and bare manual acts).
    evidence: EvidenceOut | None
    at: float


class ExperimentReportOut(ExperimentOut):
    """An experiment with its statistics, the latest evaluation and its history."""

    arms: ArmsOut
    stage_counts: StageCountsOut
    last_evaluation: ExperimentVerdictOut | None
    history: list[ExperimentTransitionOut]


# The OpenAI chat completion as /v1/chat/completions documents it. The provider's answer is
# passed on as it came (fields a provider adds included); these are the fields OpenAI's API
# reference defines, for clients generated from the OpenAPI document.


class ChatFunctionCallOut(Struct):
    name: str
    #: The arguments as the model wrote them: a JSON text, not yet validated.
    arguments: str


class ChatToolCallOut(Struct):
    id: str
    type: str
    function: ChatFunctionCallOut


class ChatMessageOut(Struct):
    role: str
    content: str | None = None
    tool_calls: list[ChatToolCallOut] | None = None
    refusal: str | None = None


class ChatChoiceOut(Struct):
    index: int
    message: ChatMessageOut
    #: ``stop``, ``length``, ``tool_calls``, ``content_filter``.
    finish_reason: str | None = None


class ChatUsageOut(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(Struct):
    """A ``chat.completion`` (with ``"stream": true`` the answer is ``text/event-stream``:
    ``chat.completion.chunk`` events, then ``data: [DONE]``)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoiceOut]
    usage: ChatUsageOut | None = None
    system_fingerprint: str | None = None
