"""Errors raised while turning requests and models into features.

The tree::

    ValueError
    └── FeatureError   a prompt, caller feature or model description cannot become features

``FeatureError`` subclasses ``ValueError`` so that callers that already treat bad input as a
``ValueError`` (for example the API's 422 mapping) need no special case.
"""

from __future__ import annotations

__all__ = ["FeatureError"]


class FeatureError(ValueError):
    """Input that cannot be turned into features; the message names the bad value."""
