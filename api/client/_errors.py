"""The client's one exception tree: every refusal of the service, with its ``detail``.

::

    RouterError              status (None when no answer came), detail; itself for
    │                        another status, or a 2xx body of another shape
    ├── InvalidRequestError  400, 413, 415, 422: the request itself is wrong
    ├── UnauthorizedError    401: no key, or an unknown, expired or revoked one
    ├── ForbiddenError       403: the key lacks the scope
    ├── NotFoundError        404: no such resource (or one outside the key's policies)
    ├── ConflictError        409: an id or idempotency key reused with another payload,
    │                        or a state conflict
    ├── RateLimitedError     429: over the key's rate; ``retry_after`` seconds
    └── UnavailableError     502, 503, 504: busy or down; ``retry_after`` when told
        └── UnreachableError no answer at all (connection refused, reset, timed out)

The names mirror the service's own tree (``bandit.errors``), which the server raises and
turns into statuses; this one turns the statuses back into exceptions for the caller. The
client retries ``RateLimitedError`` and ``UnavailableError`` (see ``RetryPolicy``) before
raising them.
"""

from __future__ import annotations

import email.utils
import json
import time

import httpx

__all__ = [
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitedError",
    "RouterError",
    "UnauthorizedError",
    "UnavailableError",
    "UnreachableError",
    "error_for",
]


class RouterError(Exception):
    """The service refused the call, or did not answer; ``detail`` is its sentence."""

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class InvalidRequestError(RouterError):
    """400, 413, 415 or 422: the detail names the bad field or value."""


class UnauthorizedError(RouterError):
    """401."""


class ForbiddenError(RouterError):
    """403."""


class NotFoundError(RouterError):
    """404."""


class ConflictError(RouterError):
    """409."""


class _RetryAfterError(RouterError):
    def __init__(
        self, detail: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(detail, status=status)
        #: Seconds the service asked the caller to wait (``Retry-After``), when it said.
        self.retry_after = retry_after


class RateLimitedError(_RetryAfterError):
    """429."""


class UnavailableError(_RetryAfterError):
    """502, 503 or 504."""


class UnreachableError(UnavailableError):
    """No answer: the connection failed, was reset or timed out."""


_BY_STATUS: dict[int, type[RouterError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: InvalidRequestError,
    415: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitedError,
    502: UnavailableError,
    503: UnavailableError,
    504: UnavailableError,
}


def error_for(response: httpx.Response) -> RouterError:
    """The exception for a refused call; ``response`` must have been read."""
    status = response.status_code
    kind = _BY_STATUS.get(status, RouterError)
    detail = _detail(response)
    if issubclass(kind, _RetryAfterError):
        return kind(detail, status=status, retry_after=_retry_after(response))
    return kind(detail, status=status)


def _detail(response: httpx.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:  # not the service's JSON error (a proxy's page, say)
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        return detail
    return f"The service answered {status_line(response)}."


def status_line(response: httpx.Response) -> str:
    return f"{response.status_code} {response.reason_phrase}".strip()


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
