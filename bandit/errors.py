"""The one tree of domain errors. ``storage/`` raises them, ``api/`` maps them to statuses.

::

    RouterError
    ├── NotFoundError          -> 404 (unknown policy, model or decision)
    ├── InvalidInputError      -> 422 (values a caller got wrong: NaN score, empty candidate set)
    │   └── LimitExceededError -> 413/422 (too many candidates or features)
    └── ConflictError          -> 409 (a reused id or idempotency key with a different payload)

Every message is a full sentence that names the offending value.
"""

from __future__ import annotations

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "LimitExceededError",
    "NotFoundError",
    "RouterError",
]


class RouterError(Exception):
    """Base of every error the router reports to a caller."""


class NotFoundError(RouterError):
    """A named policy, model or decision does not exist."""


class InvalidInputError(RouterError, ValueError):
    """A request is well-formed JSON but its values make no sense."""


class LimitExceededError(InvalidInputError):
    """A request is larger than the service accepts (candidates, features)."""


class ConflictError(RouterError):
    """An id or idempotency key was reused with a different payload."""
