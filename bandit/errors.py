"""The one tree of domain errors. ``storage/`` raises them, ``api/`` maps them to statuses.

::

    RouterError
    ├── NotFoundError          -> 404 (unknown policy, model or decision)
    ├── InvalidInputError      -> 422 (values a caller got wrong: NaN score, empty candidate set)
    │   └── LimitExceededError -> 413/422 (too many candidates or features)
    ├── ConflictError          -> 409 (a reused id or idempotency key with a different payload)
    ├── UnauthorizedError      -> 401 (no key, or a key that is unknown, expired or revoked)
    ├── ForbiddenError         -> 403 (a valid key without the scope the call needs)
    ├── RateLimitedError       -> 429 (a key over its rate limit; carries ``retry_after``)
    ├── UnsupportedMediaError  -> 415 (a body that is not ``application/json``)
    └── BusyError              -> 503 with Retry-After (every slot for heavy reports is taken)

Every message is a full sentence that names the offending value.
"""

from __future__ import annotations

__all__ = [
    "BusyError",
    "ConflictError",
    "ForbiddenError",
    "InvalidInputError",
    "LimitExceededError",
    "NotFoundError",
    "RateLimitedError",
    "RouterError",
    "UnauthorizedError",
    "UnsupportedMediaError",
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


class UnauthorizedError(RouterError):
    """No valid API key came with the request."""


class ForbiddenError(RouterError):
    """The key is valid but may not make this call."""


class RateLimitedError(RouterError):
    """The key made more requests than its rate limit allows."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnsupportedMediaError(RouterError):
    """A request body in a media type other than JSON."""


class BusyError(RouterError):
    """The service is at its limit for this kind of work; the caller should retry later."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only state is lost by the default pickling (errors cross process boundaries).
        return (_busy, (str(self), self.retry_after_seconds))


def _busy(message: str, retry_after_seconds: int) -> BusyError:
    return BusyError(message, retry_after_seconds=retry_after_seconds)
