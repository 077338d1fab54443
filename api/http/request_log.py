"""One JSON access-log line per HTTP request, and the request metrics, from one ASGI wrapper.

The line names the request, never its content: time, method, path (no query string),
route template, status, duration, request id, the accepted key's id (not its secret), and
the policy and decision the request made or named (``note_decision``, or the proxy's
``x-bandit-router-decision-id`` header). Prompts, feedback comments and bodies never reach
it: the wrapper does not read bodies, and handlers hand over only ids.

It wraps the whole Litestar app, not each route as Litestar's ``middleware`` does, so paths
the app does not serve (404, 405 before any handler) are logged and counted too.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.http.access import accepted_key
from api.telemetry.metrics import RouterMetrics

__all__ = ["ACCESS_LOGGER", "RequestLog", "log_access_to", "note_decision"]

#: The logger of the access lines; ``log_access_to`` sends it to a stream, one JSON per line.
ACCESS_LOGGER = "bandit_router.access"

_NOTE = "bandit_router.decision"
_REQUEST_ID = b"x-request-id"
_DECISION_HEADER = b"x-bandit-router-decision-id"
#: A caller's request id is echoed only when it is short and plain (it lands in logs).
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_ROUTE = "/v1/route"
#: Methods counted under their own name; any other a client invents counts as ``other``.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_encode = msgspec.json.Encoder().encode
#: Paths are logged up to this many characters (a client chooses their length).
_MAX_PATH = 1024


def note_decision(
    connection: ASGIConnection[Any, Any, Any, Any], *, decision_id: str, policy: str | None
) -> None:
    """Name the decision (and its policy, where known) that this request made or named, for
    the access log and the route latency histogram."""
    connection.state[_NOTE] = (decision_id, policy)


#: Routes whose ``{name}`` path parameter is a policy.
_POLICY_ROUTES = ("/v1/policies/{name",)


class RequestLog:
    """ASGI wrapper: times every HTTP request, counts it, writes its access line.

    ``log`` None turns the access log off (the metrics stay). Every response gets an
    ``x-request-id`` header: the caller's own when it sent a plain one, else a new one.
    """

    def __init__(self, app: ASGIApp, *, metrics: RouterMetrics, log: logging.Logger | None) -> None:
        self._app = app
        self._metrics = metrics
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        # Routing rewrites ``scope["path"]``: keep the one the client asked for.
        method, path = scope["method"], scope["path"][:_MAX_PATH]
        request_id = _request_id(scope)
        status = 500  # what the client gets when the app fails before answering
        answered_decision: bytes | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status, answered_decision
            if message["type"] == "http.response.start":
                start = message
                status = start["status"]
                headers = list(start.get("headers") or ())
                for name, value in headers:
                    if name.lower() == _DECISION_HEADER:
                        answered_decision = bytes(value)
                headers.append((_REQUEST_ID, request_id))
                message = {**start, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            state = scope.get("state") or {}
            note: tuple[str, str | None] | None = state.get(_NOTE)
            if note is None and answered_decision is not None:
                note = (answered_decision.decode("latin-1"), None)
            policy = _policy_of(scope, route, note)
            metrics = self._metrics
            metrics.answered(method if method in _METHODS else "other", route, status)
            if route == _ROUTE and note is not None and note[1] is not None and status < 400:
                metrics.decided(note[1], seconds)
            log = self._log
            if log is not None and log.isEnabledFor(logging.INFO):
                key = accepted_key(state)
                line = _encode(
                    {
                        "time": datetime.fromtimestamp(time.time() - seconds, UTC).isoformat(
                            timespec="milliseconds"
                        ),
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "request_id": request_id.decode("ascii"),
                        "key_id": None if key is None else key.id,
                        "policy": policy,
                        "decision_id": None if note is None else note[0],
                    }
                ).decode()
                # ``handle`` of a made record, not ``info``: ``info`` walks the stack for the
                # caller's file and line, a third of the line's cost, and says nothing here.
                log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, line, (), None))


def _policy_of(scope: Scope, route: str, note: tuple[str, str | None] | None) -> str | None:
    """The policy the request was about: as its handler named it, or, for a policy's own
    endpoints, the ``{name}`` of its path."""
    if note is not None and note[1] is not None:
        return note[1]
    if not route.startswith(_POLICY_ROUTES):
        return None
    name = (scope.get("path_params") or {}).get("name")
    return name if isinstance(name, str) else None


def _request_id(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID:
            if _PLAIN_ID.fullmatch(value):
                return bytes(value)
            break
    return os.urandom(8).hex().encode("ascii")


def log_access_to(stream: TextIO = sys.stdout) -> logging.Logger:
    """Send the access logger's lines to ``stream`` as bare JSON, one per line, and not to the
    root logger's format (a prefix would make the line no longer JSON)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not any(getattr(h, "stream", None) is stream for h in logger.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger
