"""The ``caller`` namespace: features the calling application attaches to a request."""

from __future__ import annotations

from collections.abc import Mapping

from bandit.types import Namespace
from features.mapping import MAX_FEATURES, Scalar, mapping_features

__all__ = ["MAX_CALLER_FEATURES", "NAMESPACE", "caller_namespace"]

NAMESPACE = "caller"
MAX_CALLER_FEATURES = MAX_FEATURES


def caller_namespace(features: Mapping[str, Scalar]) -> Namespace | None:
    """Return the caller's features as a namespace, or None when there are none.

    Typing rules and limits are those of :func:`features.mapping.mapping_features`.

    >>> caller_namespace({"user tier": "gold", "retries": 2})
    Namespace(name='caller', features=(('retries', 2.0), ('~5634ac197543f5f9=gold', 1.0)))
    >>> caller_namespace({}) is None
    True
    """
    pairs = mapping_features(features, kind="caller features")
    return Namespace(NAMESPACE, pairs) if pairs else None
