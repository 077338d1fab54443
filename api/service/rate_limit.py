"""Per-key rate limits: a token bucket per key, refilled continuously.

A key limited to ``r`` requests per second may burst up to ``max(1, r)`` requests, then
gets one request every ``1 / r`` seconds. Buckets live in this process: with several
workers each enforces the limit on its own share of the traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bandit.errors import RateLimitedError
from domain import ApiKey

__all__ = ["RateLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: ApiKey, now: float) -> None:
        """Spend one request of ``key``'s budget, or raise ``RateLimitedError``.

        >>> limiter = RateLimiter()
        >>> key = ApiKey(id="k", name="k", scopes=frozenset({"route"}), rate_per_second=2.0)
        >>> limiter.take(key, 0.0); limiter.take(key, 0.0)
        >>> try:
        ...     limiter.take(key, 0.1)
        ... except RateLimitedError as error:
        ...     round(error.retry_after, 2)
        0.4
        >>> limiter.take(key, 0.5)
        """
        rate = key.rate_per_second
        if rate is None:
            return
        capacity = max(1.0, rate)
        bucket = self._buckets.get(key.id)
        if bucket is None:
            bucket = self._buckets[key.id] = _Bucket(tokens=capacity, at=now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = (1.0 - bucket.tokens) / rate
        raise RateLimitedError(
            f"API key {key.name!r} is limited to {rate:g} requests per second; "
            f"retry in {math.ceil(wait)} s.",
            retry_after=wait,
        )

    def forget(self, key_id: str) -> None:
        self._buckets.pop(key_id, None)
