"""The one table from domain errors to HTTP statuses, and JSON error bodies with ``detail``."""

from __future__ import annotations

import logging
import math
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from bandit.errors import (
    BusyError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    RouterError,
    UnauthorizedError,
    UnsupportedMediaError,
)

__all__ = ["exception_handlers", "status_for"]

_log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[RouterError], int], ...] = (
    (NotFoundError, HTTP_404_NOT_FOUND),
    (InvalidInputError, HTTP_422_UNPROCESSABLE_ENTITY),
    (ConflictError, HTTP_409_CONFLICT),
    (UnauthorizedError, HTTP_401_UNAUTHORIZED),
    (ForbiddenError, HTTP_403_FORBIDDEN),
    (RateLimitedError, HTTP_429_TOO_MANY_REQUESTS),
    (UnsupportedMediaError, HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    (BusyError, HTTP_503_SERVICE_UNAVAILABLE),
)


def _body(status: int, detail: str, extra: Any = None) -> Response[dict[str, Any]]:
    content: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra:
        content["extra"] = extra
    return Response(content, status_code=status)


def status_for(error: RouterError) -> int:
    """The HTTP status of a domain error."""
    return next(
        (code for kind, code in _STATUS if isinstance(error, kind)), HTTP_422_UNPROCESSABLE_ENTITY
    )


def _router_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    assert isinstance(error, RouterError)
    status = status_for(error)
    response = _body(status, str(error))
    if isinstance(error, UnauthorizedError):
        response.headers["www-authenticate"] = "Bearer"
    if isinstance(error, RateLimitedError):
        response.headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, BusyError):
        response.headers["retry-after"] = str(error.retry_after_seconds)
    return response


def _validation_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, Any]]:
    # Litestar says "Validation failed for POST /v1/feedback"; name the field and the problem.
    assert isinstance(error, ValidationException)
    problems = [
        f"{item.get('key') or 'body'}: {item.get('message')}"
        for item in (error.extra if isinstance(error.extra, list) else [])
        if isinstance(item, dict)
    ]
    detail = "The request is invalid"
    detail += f" ({'; '.join(problems)})." if problems else f": {error.detail}."
    return _body(HTTP_422_UNPROCESSABLE_ENTITY, detail, error.extra)


def _http_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    assert isinstance(error, HTTPException)
    response = _body(error.status_code, _sentence(error.detail), error.extra)
    response.headers.update(error.headers or {})
    return response


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    _log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
    return _body(HTTP_500_INTERNAL_SERVER_ERROR, "The router failed unexpectedly; see its log.")


def _sentence(text: str) -> str:
    text = text.strip() or "Request failed"
    return text if text.endswith(".") else text + "."


exception_handlers: ExceptionHandlersMap = {
    RouterError: _router_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
