"""The log: decisions as they were made, the feedback that arrived and the rewards joined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from bandit.decide import RoutingNotes
from bandit.types import Arm, Context
from domain.catalog import FeatureValue

__all__ = [
    "JOINED",
    "OPEN",
    "SKIPPED",
    "ChatTurn",
    "DecisionRecord",
    "ExperimentArm",
    "ExperimentAssignment",
    "FeedbackInput",
    "FeedbackRecord",
    "JoinStatus",
    "RewardRecord",
    "Session",
]

#: Where a decision's reward window stands: still taking feedback, joined into a reward, or
#: closed without one (no score arrived and the policy has no default reward).
JoinStatus = Literal["open", "joined", "skipped"]
OPEN: Final = "open"
JOINED: Final = "joined"
SKIPPED: Final = "skipped"

ExperimentArm = Literal["candidate", "control"]


@dataclass(frozen=True, slots=True)
class Session:
    """A conversation kept on one model. ``key`` is a keyed hash of the caller's session id or
    of the conversation so far; ``decision_id`` its first decision (the bandit's choice, which
    feedback on any later turn reaches); ``model`` the model that answers it now."""

    key: str
    policy: str
    decision_id: str
    model: str
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of a chat conversation as reviewers and judges read it: its role and its
    text (a tool call written out as ``[tool call] name(arguments)``)."""

    role: str
    text: str


@dataclass(frozen=True, slots=True)
class ExperimentAssignment:
    """Which side of experiment ``id`` a decision fell on, at which stage and share."""

    id: str
    arm: ExperimentArm
    share: float
    stage: int


@dataclass(frozen=True, slots=True)
class FeedbackInput:
    """One feedback as a caller sent it, already validated by ``api/``."""

    decision_id: str
    source: str
    score: float | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None
    idempotency_key: str | None = None
    #: The application retried the request on another model.
    fallback: bool = False
    #: Who scored (a reviewer's name), for agreement between reviewers.
    reviewer: str | None = None
    comment: str | None = None
    #: Tokens the call consumed and produced, as the model's provider counted them.
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: What producing this feedback cost (a judge's own call): never the decision's cost.
    grading_cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    id: str
    decision_id: str
    source: str
    score: float | None
    cost_usd: float | None
    latency_ms: float | None
    error: str | None
    idempotency_key: str | None
    late: bool
    created_at: float
    fallback: bool = False
    #: Whether this call stored the feedback (False: an idempotent retry of an earlier one).
    created: bool = True
    #: Why an operator voided this feedback; a voided feedback is kept but never joined.
    void_reason: str | None = None
    voided_at: float | None = None
    reviewer: str | None = None
    comment: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    grading_cost_usd: float | None = None
    #: The decision's policy and chosen model; set on what ``record_feedback`` returns (so
    #: metrics and the access log can name them), None where feedback is read back.
    policy: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class RewardRecord:
    seq: int
    reward: float
    quality: float | None
    cost_usd: float | None
    latency_ms: float | None
    joined_at: float


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One routed request as logged: the full pmf over ``arms``, the chosen index, and what
    a future estimator needs. ``propensity`` is the chosen model's probability (the wire calls
    it ``probability``)."""

    id: str
    policy: str
    policy_revision: int
    policy_version: int
    learned_count: int
    request_hash: str
    context: Context
    arms: tuple[Arm, ...]
    pmf: tuple[float, ...]
    chosen_index: int
    caller_features: Mapping[str, FeatureValue]
    prompt_hash: str | None
    prompt: str | None
    experiment: ExperimentAssignment | None
    created_at: float
    join_status: JoinStatus
    window_closes_at: float | None
    feedback: tuple[FeedbackRecord, ...] = ()
    reward: RewardRecord | None = None
    #: Keyed hash of the caller's ``unit_id`` when an experiment assigned this decision by it.
    experiment_unit: str | None = None
    #: The inclusion probability when the decision was sampled for review; None: not sampled.
    review_probability: float | None = None
    #: The inclusion probability when the decision was sampled for the policy's judge.
    judge_probability: float | None = None
    #: The model's answer, as the application posted it (only where prompts are stored).
    response: str | None = None
    #: The Langfuse trace this decision names; None when Langfuse was off.
    trace_id: str | None = None
    #: Constraints, exclusions and fallbacks; None for decisions logged before they existed.
    routing: RoutingNotes | None = None
    #: The decision whose model failed, when this one is a fallback attempt for it.
    fallback_of: str | None = None
    #: The cascade's first decision, when this one is its escalation.
    escalation_of: str | None = None
    #: USD spent on the request before this decision; added to its reported cost.
    prior_cost_usd: float | None = None
    #: The chat conversation with its roles (proxied requests of policies that store
    #: prompts); ``prompt`` holds its text.
    conversation: tuple[ChatTurn, ...] | None = None
    #: Keyed hash of the session this decision started or continues.
    session_key: str | None = None
    #: The session's first decision, when this one is a later turn kept on the session's model
    #: (a continuation: one arm with probability 1, logged but never learned).
    continues: str | None = None

    @property
    def chosen_model(self) -> str:
        return self.arms[self.chosen_index].id

    @property
    def propensity(self) -> float:
        return self.pmf[self.chosen_index]
