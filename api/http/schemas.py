"""Wire schemas (msgspec). They never leave ``api/``: controllers convert to domain values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from bandit.settings import Algorithm, ExplorationSettings

__all__ = [
    "DecisionOut",
    "ExplorationIn",
    "FeaturesIn",
    "FeedbackIn",
    "FeedbackOut",
    "HealthOut",
    "LearnerOut",
    "ModelIn",
    "ModelOut",
    "PolicyIn",
    "PolicyOut",
    "RankedModel",
    "RewardIn",
    "RewardOut",
    "RollbackIn",
    "RollbackOut",
    "RouteIn",
    "RouteOut",
    "SourceIn",
    "VersionOut",
    "VersionsOut",
    "VoidIn",
    "VoidOut",
]

_EXPLORATION = ExplorationSettings()

NonNegative = Annotated[float, Meta(ge=0.0)]
Identifier = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\s/]+$")]
FeatureValue = str | float | bool
Features = Annotated[dict[str, FeatureValue], Meta(max_length=64)]


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


class FeedbackIn(Struct, forbid_unknown_fields=True):
    decision_id: str
    score: Annotated[float, Meta(ge=0.0, le=1.0)] | None = None
    #: A 1-5 star rating, mapped to a score (stars - 1) / 4.
    stars: Annotated[int, Meta(ge=1, le=5)] | None = None
    source: Annotated[str, Meta(min_length=1, max_length=64)] = "user"
    cost_usd: NonNegative | None = None
    latency_ms: NonNegative | None = None
    error: Annotated[str, Meta(max_length=1000)] | None = None
    idempotency_key: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    #: The application retried this request on another model (counts in the fallback rate).
    fallback: bool = False


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


class ModelIn(Struct, forbid_unknown_fields=True):
    input_usd_per_mtok: NonNegative
    output_usd_per_mtok: NonNegative
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
    weight: NonNegative = 1.0
    aggregation: Literal["earliest", "latest", "mean"] = "earliest"


class RewardIn(Struct, forbid_unknown_fields=True):
    wait_seconds: NonNegative = 0.0
    cost_weight: NonNegative = 0.0
    latency_weight: NonNegative = 0.0
    default_reward: float | None = None
    sources: dict[str, SourceIn] = msgspec.field(default_factory=dict)


class ExplorationIn(Struct, forbid_unknown_fields=True):
    """Defaults are ``ExplorationSettings``'s: one place to change them."""

    algorithm: Algorithm = _EXPLORATION.algorithm
    epsilon: float = _EXPLORATION.epsilon
    gamma_scale: float = _EXPLORATION.gamma_scale
    gamma_exponent: float = _EXPLORATION.gamma_exponent
    min_probability: float = _EXPLORATION.min_probability
    learning_rate: float = _EXPLORATION.learning_rate
    learning_rate_decay: float = _EXPLORATION.learning_rate_decay
    bits: int = _EXPLORATION.bits
    seed: int = _EXPLORATION.seed


class FeaturesIn(Struct, forbid_unknown_fields=True):
    text: bool = True
    words: bool = True
    embedding: bool = False


class PolicyIn(Struct, forbid_unknown_fields=True):
    models: list[str]
    reward: RewardIn = msgspec.field(default_factory=RewardIn)
    exploration: ExplorationIn = msgspec.field(default_factory=ExplorationIn)
    features: FeaturesIn = msgspec.field(default_factory=FeaturesIn)
    store_prompts: bool = False


class LearnerOut(Struct):
    learned_interactions: int
    high_water_mark: int
    snapshot_learned_interactions: int


class PolicyOut(Struct):
    name: str
    revision: int
    version: int
    models: list[str]
    reward: dict[str, Any]
    exploration: dict[str, Any]
    features: dict[str, Any]
    store_prompts: bool
    created_at: float
    updated_at: float
    learner: LearnerOut


class HealthOut(Struct):
    status: str
    database: str
    policies: int


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
