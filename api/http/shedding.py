"""Shed load instead of collapsing: the excess is refused at once with 503 and ``Retry-After``.

Past capacity, an unbounded server queues every request, answers them all too late (clients
time out and retry, adding load) and grows its memory with the queue. Refusing the excess
before any work is done keeps the accepted requests fast and tells clients when to come back.

Two limits. A hard one on the requests in flight, and one on the two queues a route or a
feedback waits in, after CoDel (Nichols and Jacobson, 2012): the event loop's (a timer asks
every few milliseconds how late the loop runs it: the wait before a new request's work
starts) and the database writer's (how long each write waited for its group commit to begin).
When even the smallest wait in either stayed above ``max_wait_seconds`` through a whole
interval, that queue is standing (out of CPU, or out of write capacity), and new route and
feedback calls are refused until an interval in which it caught up.

Why the loop and not the requests' latency: a route waits for its group commit's fsync, which
takes tens of milliseconds on some disks whatever the load; shedding on request latency
refused two thirds of the routes at half the capacity (measured), and could not make the
accepted ones faster. Why not a fixed in-flight bound alone: how many requests fit in 50 ms
depends on what they cost and how much CPU the process gets, and both change. Streams and
proxied LLM calls only count against the in-flight bound: they mostly wait for someone else.
"""

from __future__ import annotations

import asyncio
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

__all__ = ["LoadShedder", "LoopLag", "StandingQueue"]

#: Paths never shed: a load balancer's health check must see a busy server as alive.
_ALWAYS = frozenset({"/health"})
#: The calls refused while the event loop or the writer has a standing queue.
_SHORT = frozenset({"/v1/route", "/v1/feedback"})
#: Below this many requests in flight nothing is shed for a standing queue: whatever holds
#: the loop then (a snapshot, a report's bookkeeping) is not these requests' doing.
_MIN_QUEUE = 8
#: CoDel's interval: a queue that lasts this long is standing, not a burst draining.
_INTERVAL_SECONDS = 0.1
#: How often the timer asks how late the loop runs it.
_TICK_SECONDS = 0.005


class StandingQueue:
    """CoDel's test on one queue: whether the smallest wait observed through the last interval
    was above ``target_seconds``."""

    def __init__(self, target_seconds: float, clock: Callable[[], float] = time.monotonic):
        self._target = target_seconds
        self._clock = clock
        self._smallest = float("inf")
        self._interval_start = 0.0
        self.standing = False

    def observe(self, delay: float, now: float) -> None:
        """Something waited ``delay`` seconds in the queue, as of ``now``."""
        self._smallest = min(self._smallest, delay)
        if now - self._interval_start >= _INTERVAL_SECONDS:
            self.standing = self._smallest > self._target
            self._smallest = float("inf")
            self._interval_start = now

    def observe_now(self, delay: float) -> None:
        self.observe(delay, self._clock())


class LoopLag(StandingQueue):
    """The event loop's queue: how late a timer that asks every few milliseconds runs."""

    def __init__(self, target_seconds: float, clock: Callable[[], float] = time.monotonic):
        super().__init__(target_seconds, clock)
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._handle is None:
            self._interval_start = self._clock()
            self._schedule(loop)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        self._handle = loop.call_later(_TICK_SECONDS, self._tick, loop, self._clock())

    def _tick(self, loop: asyncio.AbstractEventLoop, scheduled_at: float) -> None:
        now = self._clock()
        self.observe(now - scheduled_at - _TICK_SECONDS, now)
        self._schedule(loop)


class LoadShedder:
    """ASGI middleware: at most ``max_in_flight`` HTTP requests at once in this process, and
    no new route or feedback call while the event loop or the writer has kept a queue longer than
    ``max_wait_seconds`` (``None``: no such limit)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_wait_seconds: float | None = None,
        retry_after_seconds: int = 1,
        lag: LoopLag | None = None,
        writer: StandingQueue | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}.")
        self._app = app
        self._max = max_in_flight
        #: A ``lag`` passed in is run (started) by its owner; one made here starts with the
        #: first request, when the loop exists.
        self._lag = lag
        self._own_lag: LoopLag | None = None
        if lag is None and max_wait_seconds is not None:
            self._lag = self._own_lag = LoopLag(max_wait_seconds)
        #: The database writer's queue (its group commit), fed by the writer itself.
        self._writer = writer
        self._in_flight = 0
        self.shed = 0
        self._full = _refusal(
            f"The router is at its limit of {max_in_flight} requests in flight; "
            f"retry after {retry_after_seconds} s.",
            retry_after_seconds,
        )
        self._busy = _refusal(
            f"The router is busier than it can start a request within {max_wait_seconds} s; "
            f"retry after {retry_after_seconds} s.",
            retry_after_seconds,
        )

    def _refuses(self, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        if self._in_flight >= self._max:
            return self._full
        standing = (self._lag is not None and self._lag.standing) or (
            self._writer is not None and self._writer.standing
        )
        if standing and self._in_flight >= _MIN_QUEUE and path in _SHORT:
            return self._busy
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in _ALWAYS:
            await self._app(scope, receive, send)
            return
        if self._own_lag is not None:
            self._own_lag.start(asyncio.get_running_loop())  # does nothing once started
        refusal = self._refuses(scope["path"])
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
        self._in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._in_flight -= 1


def _refusal(detail: str, retry_after_seconds: int) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"detail": detail, "status_code": 503}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(retry_after_seconds).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return body, headers
