"""When the client tries a call again, and how long it waits first."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

from api.client._errors import RateLimitedError, RouterError, UnavailableError

__all__ = ["RetryPolicy"]

#: Failures after which the request surely never reached the service: safe to send again
#: whatever the call does.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a call refused with 429 or 502/503/504, or that got no answer, up to
    ``attempts`` times in all, waiting ``backoff_seconds * 2**n`` (jittered, at most
    ``max_backoff_seconds``) or the ``Retry-After`` the service asked for, whichever is
    longer. A ``Retry-After`` beyond ``max_retry_after_seconds`` is raised at once.

    A call is sent again after a lost answer (read timeout, reset) only when repeating it
    is harmless: reads, puts, feedback (its idempotency key is reused) and routes with a
    ``decision_id``. ``RetryPolicy(attempts=1)`` never retries.
    """

    attempts: int = 4
    backoff_seconds: float = 0.25
    max_backoff_seconds: float = 8.0
    max_retry_after_seconds: float = 30.0
    #: The jitter's source; seed it for reproducible waits.
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}.")
        if self.backoff_seconds < 0 or self.max_backoff_seconds < 0:
            raise ValueError("backoff_seconds and max_backoff_seconds must not be negative.")

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without a hint.

        >>> policy = RetryPolicy(backoff_seconds=1.0, max_backoff_seconds=3.0, rng=random.Random(7))
        >>> [0.5 <= policy.backoff(n) / cap <= 1.0 for n, cap in ((1, 1), (2, 2), (5, 3))]
        [True, True, True]
        """
        cap = min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (attempt - 1))
        return cap * (0.5 + self.rng.random() / 2)

    def after_error(self, error: RouterError, attempt: int, *, repeatable: bool) -> float | None:
        """Seconds to wait before trying again after ``error``; None: raise it.

        429 and 503 come from the service before it did any work (the rate limiter, the
        load shedder, the report slots), so they are retried for every call; a 502 or 504
        from a proxy in front may hide a call that went through, so only repeatable ones.
        """
        if attempt >= self.attempts or not isinstance(error, RateLimitedError | UnavailableError):
            return None
        if error.status not in (429, 503) and not repeatable:
            return None
        hint = error.retry_after
        if hint is not None and hint > self.max_retry_after_seconds:
            return None
        return max(hint or 0.0, self.backoff(attempt))

    def after_transport_error(
        self, error: httpx.TransportError, attempt: int, *, repeatable: bool
    ) -> float | None:
        """Seconds to wait before sending again after no answer came; None: raise."""
        if attempt >= self.attempts:
            return None
        if not repeatable and not isinstance(error, _NOT_SENT):
            return None
        return self.backoff(attempt)
