"""Shed load instead of collapsing: the excess is refused at once with 503 and ``Retry-After``.

Past capacity, an unbounded server queues every request, answers them all too late (clients
time out and retry, adding load) and grows its memory with the queue. Refusing the excess
before any work is done keeps the accepted requests fast and tells clients when to come back.

Two limits. A hard one on the requests in flight, and a latency one for the short calls
(route and feedback), after CoDel (Nichols and Jacobson, 2012): when even the fastest of
them took longer than ``max_wait_seconds`` throughout the last interval, a standing queue has
formed, and new ones are refused until the interval after one that was fast. A fixed
in-flight bound alone cannot keep the accepted requests fast: how many fit in 50 ms depends on
what the requests cost and how much CPU the process gets, and both change. Streams and proxied
LLM calls are slow by nature; they only count against the in-flight bound.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

__all__ = ["LoadShedder"]

#: Paths never shed: a load balancer's health check must see a busy server as alive.
_ALWAYS = frozenset({"/health"})
#: The short calls the latency limit watches and sheds.
_SHORT = frozenset({"/v1/route", "/v1/feedback"})
#: Below this many requests in flight nothing is shed for latency: a few requests are not a
#: queue.
_MIN_QUEUE = 8
#: CoDel's interval: a queue that lasts this long is standing, not a burst draining.
_INTERVAL_SECONDS = 0.1


class LoadShedder:
    """ASGI middleware: at most ``max_in_flight`` HTTP requests at once in this process, and
    none that would wait longer than ``max_wait_seconds`` (``None``: no latency limit)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_wait_seconds: float | None = None,
        retry_after_seconds: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}.")
        self._app = app
        self._max = max_in_flight
        self._max_wait = max_wait_seconds
        self._clock = clock
        self._in_flight = 0
        self.shed = 0
        #: The fastest short call that finished in the current interval.
        self._fastest = float("inf")
        self._interval_start = clock()
        self._standing_queue = False
        self._full = _refusal(
            f"The router is at its limit of {max_in_flight} requests in flight; "
            f"retry after {retry_after_seconds} s.",
            retry_after_seconds,
        )
        self._slow = _refusal(
            f"The router is busier than it can answer within {max_wait_seconds} s; "
            f"retry after {retry_after_seconds} s.",
            retry_after_seconds,
        )

    def _refuses(self, short: bool) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        if self._in_flight >= self._max:
            return self._full
        if short and self._standing_queue and self._in_flight >= _MIN_QUEUE:
            return self._slow
        return None

    def _finished(self, seconds: float) -> None:
        self._fastest = min(self._fastest, seconds)
        now = self._clock()
        if now - self._interval_start >= _INTERVAL_SECONDS:
            assert self._max_wait is not None
            self._standing_queue = self._fastest > self._max_wait
            self._fastest = float("inf")
            self._interval_start = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in _ALWAYS:
            await self._app(scope, receive, send)
            return
        short = self._max_wait is not None and scope["path"] in _SHORT
        refusal = self._refuses(short)
        if refusal is not None:
            self.shed += 1
            body_bytes, headers = refusal
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 503,
                "headers": headers,
            }
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": body_bytes,
                "more_body": False,
            }
            await send(start)
            await send(body)
            return
        began = self._clock()
        self._in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1
            if short:
                self._finished(self._clock() - began)


def _refusal(detail: str, retry_after_seconds: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"detail": detail, "status_code": 503}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(retry_after_seconds).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return body, headers
