"""The domain: the catalog (models, policies), the log (decisions, feedback, rewards), API keys
and model endpoints, as frozen values.

It sits between ``storage/`` (which maps rows to these values) and the pure packages below
(``experiments``, ``features``, ``bandit``), and imports no web, database or telemetry library.
``api/`` converts these values to wire structs; a change here is never by itself an API change.
"""

from bandit.limits import (
    MAX_ANSWER_CHARS,
    MAX_COST_USD,
    MAX_LATENCY_MS,
    MAX_TOKENS,
    MAX_USD_PER_MTOK,
)
from domain.access import SCOPES, ApiKey, Scope, hash_secret, secret_matches
from domain.catalog import (
    RETENTION_DAYS_RANGE,
    FeatureValue,
    ModelSpec,
    ModelStatus,
    PolicyConfig,
    PolicyRecord,
)
from domain.decision import LearnerState, new_decision
from domain.endpoint import ENDPOINT_APIS, EndpointApi, ModelEndpoint
from domain.experiments import ACTIVE, ExperimentRecord, ExperimentTransition
from domain.log import (
    JOINED,
    OPEN,
    SKIPPED,
    ChatTurn,
    DecisionRecord,
    ExperimentArm,
    ExperimentAssignment,
    FeedbackInput,
    FeedbackRecord,
    JoinStatus,
    RewardRecord,
    Session,
)

__all__ = [
    "ACTIVE",
    "ENDPOINT_APIS",
    "JOINED",
    "MAX_ANSWER_CHARS",
    "MAX_COST_USD",
    "MAX_LATENCY_MS",
    "MAX_TOKENS",
    "MAX_USD_PER_MTOK",
    "OPEN",
    "RETENTION_DAYS_RANGE",
    "SCOPES",
    "SKIPPED",
    "ApiKey",
    "ChatTurn",
    "DecisionRecord",
    "EndpointApi",
    "ExperimentArm",
    "ExperimentAssignment",
    "ExperimentRecord",
    "ExperimentTransition",
    "FeatureValue",
    "FeedbackInput",
    "FeedbackRecord",
    "JoinStatus",
    "LearnerState",
    "ModelEndpoint",
    "ModelSpec",
    "ModelStatus",
    "PolicyConfig",
    "PolicyRecord",
    "RewardRecord",
    "Scope",
    "Session",
    "hash_secret",
    "new_decision",
    "secret_matches",
]
