"""``/v1/models`` and ``/v1/policies``: the catalog an operator keeps."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from api.http.schemas.common import (
    Features,
    FeatureValue,
    MaxCostUsd,
    MaxLatencyMs,
    Price,
    Rate,
    Require,
    RewardValue,
)
from bandit.health import MAX_COOLDOWN_SECONDS, MAX_MIN_CALLS, MAX_WINDOW_SECONDS, HealthSettings
from bandit.implicit import MAX_REGENERATION_SECONDS
from bandit.judge import JudgeSettings
from bandit.limits import (
    MAX_COST_SHARE,
    MAX_JUDGE_INSTRUCTIONS,
    MAX_JUDGE_USD_PER_HOUR,
    MAX_USD_PER_REQUEST,
)
from bandit.review import MAX_PER_MODEL, Design
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    ERROR_REWARD_RANGE,
    MAX_COST_WEIGHT,
    MAX_LATENCY_WEIGHT,
    MAX_SOURCE_WEIGHT,
    MAX_WAIT_SECONDS,
)
from bandit.settings import MAX_BITS, MIN_BITS, Algorithm, ExplorationSettings

__all__ = [
    "BudgetIn",
    "BudgetOut",
    "CascadeIn",
    "ConstraintsIn",
    "CooldownOut",
    "EndpointIn",
    "EndpointOut",
    "ExplorationIn",
    "FeaturesIn",
    "ImplicitIn",
    "JudgeActivityOut",
    "JudgeIn",
    "LearnerOut",
    "ModelHealthIn",
    "ModelIn",
    "ModelOut",
    "PolicyIn",
    "PolicyOut",
    "QualitySignalOut",
    "ReviewIn",
    "RewardIn",
    "SourceIn",
]

_EXPLORATION = ExplorationSettings()

_HEALTH = HealthSettings()
_JUDGE = JudgeSettings(model="judge")


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


class ConstraintsIn(Struct, forbid_unknown_fields=True):
    """Limits every request of a policy meets; a request may only tighten them."""

    max_cost_usd: MaxCostUsd | None = None
    max_latency_ms: MaxLatencyMs | None = None
    require: Require = msgspec.field(default_factory=dict)


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


class JudgeIn(Struct, forbid_unknown_fields=True):
    """A catalog model with an endpoint that grades ``sample_rate`` of the policy's answers
    (0-10, recorded as feedback with source ``judge``) after they are sent, spending at most
    ``max_usd_per_hour`` on it. ``instructions``: the rubric (default: correctness and
    completeness)."""

    model: Annotated[str, Meta(min_length=1, max_length=128)]
    sample_rate: Rate = _JUDGE.sample_rate
    max_usd_per_hour: Annotated[float, Meta(ge=0.0, le=MAX_JUDGE_USD_PER_HOUR)] = (
        _JUDGE.max_usd_per_hour
    )
    instructions: Annotated[str, Meta(min_length=1, max_length=MAX_JUDGE_INSTRUCTIONS)] | None = (
        None
    )


class JudgeActivityOut(Struct):
    """What this process's judge did for the policy since it started."""

    graded: int
    #: Judge calls that failed or answered no grade (nothing recorded: no signal).
    failed: int
    #: Sampled answers dropped because the judge's queue was full.
    shed: int
    #: Sampled answers left ungraded because the hour's judge spend had reached the cap.
    over_cap: int
    #: USD this process's judge spent (apart from the routed calls' cost).
    spend_usd: float
    #: USD every process's judge spent on the policy in the last hour (the cap's measure).
    spend_usd_last_hour: float


class QualitySignalOut(Struct):
    """The policy's last hour: decisions, and those that got no score from any source."""

    decisions_last_hour: int
    without_quality_last_hour: int
    #: Set when the policy has no quality source at all: it learns nothing from its traffic.
    warning: str | None
    judge: JudgeActivityOut | None


class ImplicitIn(Struct, forbid_unknown_fields=True):
    """Signals read from callers' behaviour, off by default. ``regeneration_seconds``: the
    same conversation sent again within this many seconds scores the earlier answer 0
    (source ``implicit``); needs ``reward.default_reward``."""

    regeneration_seconds: Annotated[float, Meta(ge=0.0, le=MAX_REGENERATION_SECONDS)] = 0.0


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
    judge: JudgeIn | None = None
    implicit: ImplicitIn = msgspec.field(default_factory=ImplicitIn)


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
    judge: JudgeIn | None = None
    implicit: ImplicitIn = msgspec.field(default_factory=ImplicitIn)
    #: Whether the policy's traffic gets a quality signal (null when not computed).
    quality_signal: QualitySignalOut | None = None
    #: Settings that work but probably do not do what was meant, as sentences.
    warnings: list[str] = msgspec.field(default_factory=list)
