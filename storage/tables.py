"""Every table of the router, in one place. Rows never leave ``storage/``.

Times are float seconds since the epoch: exact, portable between SQLite and PostgreSQL, and
cheap to compare for reward windows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "ApiKeyRow",
    "AuditRow",
    "DecisionRow",
    "ExperimentRow",
    "ExperimentTransitionRow",
    "FeedbackRow",
    "MetaRow",
    "ModelRow",
    "PolicyRow",
    "QuarantineRow",
    "RewardRow",
    "SessionRow",
    "SnapshotRow",
]

_JSON = JSON().with_variant(JSONB(), "postgresql")


def _json_column(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(_JSON, nullable=nullable))


class MetaRow(SQLModel, table=True):
    """Installation-wide values, e.g. the key for hashing prompts."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


class LangfuseCursorRow(SQLModel, table=True):
    """Where the Langfuse score poller stopped: ``createdAt`` of the newest score it saw."""

    __tablename__ = "langfuse_cursor"
    name: str = Field(primary_key=True, max_length=64)
    created_at: float
    updated_at: float


class LangfuseQueueItemRow(SQLModel, table=True):
    """A decision the router added to its policy's Langfuse annotation queue (once each)."""

    __tablename__ = "langfuse_queue_items"
    decision_id: str = Field(primary_key=True, max_length=128)
    queue_id: str = Field(max_length=128)
    #: The queue item's id in Langfuse.
    item_id: str = Field(max_length=128)
    created_at: float


class ModelRow(SQLModel, table=True):
    __tablename__ = "models"
    id: str = Field(primary_key=True, max_length=128)
    provider: str = Field(default="", max_length=128)
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    features: dict[str, Any] = _json_column()
    status: str = Field(max_length=16)
    created_at: float
    updated_at: float
    #: ``{"api", "base_url", "model", "api_key_env"}`` for the proxy; never a key.
    endpoint: dict[str, Any] | None = _json_column(nullable=True)


class PolicyRow(SQLModel, table=True):
    __tablename__ = "policies"
    name: str = Field(primary_key=True, max_length=128)
    revision: int
    config: dict[str, Any] = _json_column()
    created_at: float
    updated_at: float
    #: ``policy_version = version_base + learned count``. Every jump of the learned state (a new
    #: revision, a rollback, a rebuild after a void) moves the base past every version served.
    version_base: int = 0


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_policy_created", "policy", "created_at"),
        Index("ix_decisions_open_windows", "join_status", "window_closes_at"),
        Index("ix_decisions_review", "policy", "review_probability"),
    )
    id: str = Field(primary_key=True, max_length=128)
    policy: str = Field(foreign_key="policies.name", max_length=128)
    policy_revision: int
    policy_version: int
    learned_count: int
    request_hash: str = Field(max_length=64)
    context: list[Any] = _json_column()
    arms: list[Any] = _json_column()
    pmf: list[float] = _json_column()
    chosen_index: int
    chosen_model: str = Field(max_length=128)
    propensity: float
    caller_features: dict[str, Any] = _json_column()
    prompt_hash: str | None = Field(default=None, max_length=64)
    prompt: str | None = None
    experiment: dict[str, Any] | None = _json_column(nullable=True)
    experiment_id: str | None = Field(default=None, max_length=64, index=True)
    experiment_arm: str | None = Field(default=None, max_length=16)
    experiment_stage: int | None = None
    #: Keyed hash of the unit the experiment assigned (``unit_id``); None: the decision is its
    #: own unit. The sample-ratio check counts distinct units.
    experiment_unit: str | None = Field(default=None, max_length=64)
    created_at: float
    join_status: str = Field(max_length=16)
    window_closes_at: float | None = None
    #: Inclusion probability of the review sample; None: not sampled for review.
    review_probability: float | None = None
    #: Inclusion probability of the judge's sample; None: the judge does not grade it.
    judge_probability: float | None = None
    #: The model's answer as the application posted it; only for policies that store prompts.
    response: str | None = None
    response_at: float | None = None
    #: The Langfuse trace this decision names (when Langfuse is configured): scores made there
    #: come back to the decision through it.
    trace_id: str | None = Field(default=None, max_length=32, index=True)
    #: The constraints that applied, the models they excluded and why, and the fallbacks
    #: offered; None on decisions logged before routing rules existed.
    routing: dict[str, Any] | None = _json_column(nullable=True)
    #: The decision whose model failed, when this decision is a fallback attempt for it.
    fallback_of: str | None = Field(default=None, max_length=128, index=True)
    #: The cascade's first decision, when this decision is its escalation.
    escalation_of: str | None = Field(default=None, max_length=128, index=True)
    #: USD spent on the request before this decision (a cascade's first calls): the join
    #: adds it to the reported cost.
    prior_cost_usd: float | None = None
    #: ``[{"role", "text"}, ...]``: the chat conversation of a proxied request, where the
    #: policy stores prompts.
    conversation: list[Any] | None = _json_column(nullable=True)
    #: Keyed hash of the session this decision started or continues (``sessions.key``).
    session_key: str | None = Field(default=None, max_length=64)
    #: The session's first decision, when this one is a later turn kept on its model (a
    #: continuation: one arm, probability 1, never learned).
    continues: str | None = Field(default=None, max_length=128, index=True)


class SessionRow(SQLModel, table=True):
    """A conversation kept on one model: found by a keyed hash of the caller's session id,
    or of the conversation so far (one row per answered turn). No text is stored."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_updated", "updated_at"),)
    key: str = Field(primary_key=True, max_length=64)
    policy: str = Field(max_length=128)
    #: The session's first decision: feedback on any later turn reaches it.
    decision_id: str = Field(max_length=128)
    #: The model that answers the session now (its first model, or the fallback that took
    #: over when that one failed).
    model: str = Field(max_length=128)
    created_at: float
    updated_at: float


class FeedbackRow(SQLModel, table=True):
    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
        # Model health and observed latency read the last minutes (or hour) of feedback.
        Index("ix_feedback_created", "created_at"),
        {"sqlite_autoincrement": True},
    )
    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=64, unique=True)
    decision_id: str = Field(foreign_key="decisions.id", index=True, max_length=128)
    source: str = Field(max_length=64)
    score: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    #: The application retried the request on another model.
    fallback: bool = False
    idempotency_key: str | None = Field(default=None, max_length=256)
    payload_hash: str = Field(max_length=64)
    late: bool
    created_at: float
    #: A voided feedback is kept, flagged, and left out of every reward join.
    void_reason: str | None = Field(default=None, max_length=512)
    voided_at: float | None = None
    #: Who scored, for agreement between reviewers; the comment they left.
    reviewer: str | None = Field(default=None, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)
    #: Tokens the call consumed and produced (observed output length, for cost estimates).
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: What producing this feedback cost (a judge's call), kept apart from the call's cost.
    grading_cost_usd: float | None = None


class RewardRow(SQLModel, table=True):
    """A joined reward; ``seq`` is the join order in which the learner consumes it."""

    __tablename__ = "rewards"
    __table_args__ = (
        Index("ix_rewards_policy_seq", "policy", "seq"),
        {"sqlite_autoincrement": True},
    )
    seq: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="decisions.id", unique=True, max_length=128)
    policy: str = Field(max_length=128)
    reward: float
    quality: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    joined_at: float
    #: Why this reward is excluded from the policy's learned state (a rollback); never learned
    #: while set. The row stays: it is a real outcome, which evaluation still counts.
    excluded: str | None = Field(default=None, max_length=512)
    excluded_at: float | None = None


class QuarantineRow(SQLModel, table=True):
    """A joined reward the learner could not learn; every learner skips it from then on.

    Keyed by the reward's ``seq``, so a restart and a rebuild from the log skip it too.
    """

    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_policy_seq", "policy", "reward_seq"),)
    reward_seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    policy: str = Field(max_length=128)
    reason: str
    at: float


class SnapshotRow(SQLModel, table=True):
    """A learner's state including every reward with ``seq <= high_water_mark``."""

    __tablename__ = "policy_snapshots"
    __table_args__ = (
        Index("ix_snapshots_policy_revision", "policy", "revision", "learned_count"),
        {"sqlite_autoincrement": True},
    )
    id: int | None = Field(default=None, primary_key=True)
    policy: str = Field(foreign_key="policies.name", max_length=128)
    revision: int
    #: The ``policy_version`` decisions made with this state log.
    version: int = 0
    learned_count: int
    high_water_mark: int
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: float


class ExperimentRow(SQLModel, table=True):
    """A candidate model gated through traffic stages on one policy."""

    __tablename__ = "experiments"
    __table_args__ = (Index("ix_experiments_policy_status", "policy", "status"),)
    id: str = Field(primary_key=True, max_length=64)
    policy: str = Field(foreign_key="policies.name", max_length=128)
    candidate: str = Field(foreign_key="models.id", max_length=128)
    spec: dict[str, Any] = _json_column()
    status: str = Field(max_length=16)
    stage_index: int
    #: When the current stage began: its statistics count decisions from here on.
    stage_started_at: float
    created_at: float
    updated_at: float


class ExperimentTransitionRow(SQLModel, table=True):
    """Every change of an experiment's status or stage, with the evidence behind it."""

    __tablename__ = "experiment_transitions"
    __table_args__ = ({"sqlite_autoincrement": True},)
    seq: int | None = Field(default=None, primary_key=True)
    experiment_id: str = Field(foreign_key="experiments.id", index=True, max_length=64)
    action: str = Field(max_length=16)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    from_stage: int
    to_stage: int
    reason: str
    manual: bool
    evidence: dict[str, Any] | None = _json_column(nullable=True)
    at: float


class ApiKeyRow(SQLModel, table=True):
    """An API key: its secret only as a SHA-256 digest, its scopes and policy limits."""

    __tablename__ = "api_keys"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    secret_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = _json_column()
    #: ``None``: every policy; otherwise the policies the key is limited to.
    policies: list[str] | None = _json_column(nullable=True)
    #: ``None``: every model; otherwise the models the key's requests may be routed to.
    models: list[str] | None = _json_column(nullable=True)
    rate_per_second: float | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    created_at: float
    #: Changes with every change of the row, so servers refresh their key cache cheaply.
    updated_at: float = Field(index=True)


class AuditRow(SQLModel, table=True):
    """One admin change: who (key id), what, and the state before and after."""

    __tablename__ = "audit_log"
    __table_args__ = ({"sqlite_autoincrement": True},)
    seq: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(max_length=256)
    before: Any = _json_column(nullable=True)
    after: Any = _json_column(nullable=True)
    at: float = Field(index=True)
