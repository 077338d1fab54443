"""The access guard: every ``/v1`` call needs a key with the scope its handler declares.

Handlers declare their rule in ``opt``: ``opt={"scope": "read"}`` (a key with that scope; an
``admin`` key has every scope) or ``opt={"public": True}`` (no key: health, the dashboard
page). A handler without a rule is refused (fail closed), except Litestar's own OpenAPI
routes under ``/schema``. Keys limited to policies are checked by the handlers, which know
the policy: ``require_policy`` answers 404 for another tenant's policy, so ids do not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import ResponseSpec

from api.http.schemas import ErrorOut
from api.service.clock import Clock
from api.service.keyring import KeyRing
from api.service.rate_limit import RateLimiter
from bandit.errors import ForbiddenError, NotFoundError, UnsupportedMediaError
from domain import SCOPES, ApiKey, Scope

__all__ = [
    "AccessControl",
    "accepted_key",
    "access",
    "caller_key",
    "handler_scopes",
    "public",
    "require_policy",
]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_STATE_KEY = "api_key"


_ERRORS: dict[int, str] = {
    400: "The request is malformed: a NUL character in the URL, or a body that is not valid "
    "JSON (or nests too deep, or holds NUL characters).",
    401: "No API key, or one that is unknown, expired or revoked.",
    403: "The key lacks the scope this call needs.",
    404: "No such resource, or one outside the key's policies.",
    409: "An id or idempotency key reused with a different payload, or a state conflict.",
    413: "The body is larger than this endpoint accepts.",
    415: "The body is not application/json.",
    422: "The values are invalid; the detail names the field.",
    429: "The key is over its rate limit; see Retry-After.",
    503: "The service is at capacity (requests in flight, or heavy reports running); "
    "see Retry-After.",
}


def access(
    *names: Scope,
    body: bool = False,
    errors: tuple[int, ...] = (),
    also: dict[int, ResponseSpec] | None = None,
) -> dict[str, Any]:
    """A handler's access rule and the error answers it can give, for its decorator:
    ``@post("/x", **access("route", body=True, errors=(404,)))``.

    Every guarded handler can answer 400 (a NUL in the URL), 401, 403, 429 and 503 (the load
    shedder's, beyond the requests a process takes at once); one with a ``body`` also 413,
    415 and 422; ``errors`` adds the handler's own (404, 409, ...), ``also`` its other
    successful answers (a PUT's 201 beside its 200, say).
    """
    codes = {400, 401, 403, 429, 503, *errors}
    if body:
        codes |= {413, 415, 422}
    return {
        "opt": {"scopes": names},
        "responses": {**_responses(codes), **(also or {})},
        "security": [{"bearer": []}],
    }


def public() -> dict[str, Any]:
    """``opt`` for a handler anybody may call."""
    return {"public": True}


def _responses(codes: set[int]) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(
            data_container=ErrorOut, description=_ERRORS[code], generate_examples=False
        )
        for code in sorted(codes)
    }


@dataclass(frozen=True, slots=True)
class AccessControl:
    """The guard's collaborators, looked up when the app has started."""

    keyring: Callable[[], KeyRing]
    limiter: RateLimiter
    clock: Clock

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if handler.opt.get("public") or connection.url.path.startswith("/schema"):
            return
        needed = handler_scopes(handler)
        if not needed:
            raise ForbiddenError(
                f"{connection.url.path} has no access rule, so nobody may call it."
            )
        key = self.keyring().authenticate(connection.headers.get("authorization"))
        if not any(key.grants(name) for name in needed):
            raise ForbiddenError(
                f"API key {key.name!r} ({key.id}) lacks the scope this call needs "
                f"({' or '.join(needed)}); it has {', '.join(sorted(key.scopes))}."
            )
        self.limiter.take(key, self.clock())
        _require_json(connection)
        connection.state[_STATE_KEY] = key


def handler_scopes(handler: BaseRouteHandler) -> tuple[Scope, ...]:
    """The scopes a handler accepts (any one suffices); empty when it declares none."""
    declared = handler.opt.get("scopes") or ()
    return tuple(cast(Scope, name) for name in declared if name in SCOPES)


def _require_json(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    if connection.scope.get("method") not in _BODY_METHODS:
        return
    headers = connection.headers
    has_body = (headers.get("content-length") or "0") != "0" or "transfer-encoding" in headers
    if not has_body:
        return
    media_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        shown = media_type or "no content type"
        raise UnsupportedMediaError(
            f"The request body must be sent as 'application/json', got {shown}."
        )


def caller_key(request: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key the guard accepted (a dependency for handlers)."""
    key = request.state.get(_STATE_KEY)
    if not isinstance(key, ApiKey):  # only a handler without a scope could get here
        raise ForbiddenError(f"{request.url.path} needs an API key.")
    return key


def accepted_key(state: Mapping[str, Any]) -> ApiKey | None:
    """The key the guard accepted for a request, from its scope's ``state``; None before the
    guard ran or on a public path (the access log names it by id)."""
    key = state.get(_STATE_KEY)
    return key if isinstance(key, ApiKey) else None


def require_policy(key: ApiKey, policy: str) -> None:
    """404 for a policy outside the key's list: the same answer as for a policy that does
    not exist, so a tenant cannot learn another tenant's policy names."""
    if not key.may_use(policy):
        raise NotFoundError(f"Policy {policy!r} does not exist.")
