"""Shed load instead of collapsing: a bounded number of requests in flight, the rest refused
at once with 503 and ``Retry-After``.

Past capacity, an unbounded server queues every request, answers them all too late (clients
time out and retry, adding load) and grows its memory with the queue. Refusing the excess
before any work is done keeps the accepted requests fast and tells clients when to come back.
"""

from __future__ import annotations

import json

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


class LoadShedder:
    """ASGI middleware: at most ``max_in_flight`` HTTP requests at once in this process."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_seconds: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}.")
        self._app = app
        self._max = max_in_flight
        self._in_flight = 0
        self.shed = 0
        self._body = json.dumps(
            {
                "detail": f"The router is at its limit of {max_in_flight} requests in flight; "
                f"retry after {retry_after_seconds} s.",
                "status_code": 503,
            }
        ).encode()
        self._headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"retry-after", str(retry_after_seconds).encode()),
            (b"content-length", str(len(self._body)).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"] in _ALWAYS:
            await self._app(scope, receive, send)
            return
        if self._in_flight >= self._max:
            self.shed += 1
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 503,
                "headers": self._headers,
            }
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": self._body,
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
