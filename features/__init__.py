"""Request -> context and model -> arm features for the router's contextual bandit.

Pure functions: no I/O, no global state, no web, database or Vowpal Wabbit imports. Every user
string is hashed or reduced to a safe token, so none can add a feature or a namespace.
"""

from __future__ import annotations

from features.arms import ARM_NAMESPACES, arm_for_model
from features.caller import MAX_CALLER_FEATURES, caller_namespace
from features.context import CONTEXT_NAMESPACES, FeatureSettings, extract_context
from features.embedding import Embedder, WordLlamaEmbedder, embedding_namespace
from features.errors import FeatureError
from features.mapping import Scalar
from features.sanitize import safe_token
from features.signals import ESCALATION_NAMESPACES
from features.text import text_namespaces


def context_namespaces(*, escalation: bool) -> tuple[str, ...]:
    """The context namespaces a policy's learner crosses with the arms: a cascade's
    escalation decisions add the signals about the first answer."""
    return (*CONTEXT_NAMESPACES, *ESCALATION_NAMESPACES) if escalation else CONTEXT_NAMESPACES


__all__ = [
    "ARM_NAMESPACES",
    "CONTEXT_NAMESPACES",
    "ESCALATION_NAMESPACES",
    "MAX_CALLER_FEATURES",
    "Embedder",
    "FeatureError",
    "FeatureSettings",
    "Scalar",
    "WordLlamaEmbedder",
    "arm_for_model",
    "caller_namespace",
    "context_namespaces",
    "embedding_namespace",
    "extract_context",
    "safe_token",
    "text_namespaces",
]
