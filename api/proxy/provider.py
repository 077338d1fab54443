"""The one-method provider interface, what it returns, and how its failures are classified.

A provider turns an OpenAI chat request into a call to one API and the answer back into
OpenAI's shapes: ``send(call)`` returns a ``Completion`` (not streamed) or a ``ChunkStream``
(``chat.completion.chunk`` objects), or raises ``ProviderError`` before anything was answered.
A stream may also raise ``ProviderError`` while it is read (a provider dying mid-stream).

Errors::

    ProviderError            one call failed; ``kind`` says what the proxy does next
      kind "retry"           429, 408, 5xx, timeout, connection error: retry, then fall back
      kind "fallback"        401, 403, 404, a missing key: this model cannot answer, fall back
      kind "refused"         another 4xx: the request itself is bad; the caller gets it back
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from domain import ModelEndpoint

__all__ = [
    "ChunkStream",
    "Completion",
    "FailureKind",
    "Provider",
    "ProviderCall",
    "ProviderError",
    "Reply",
    "Usage",
    "error_for_status",
    "retry_after_seconds",
]

FailureKind = Literal["retry", "fallback", "refused"]

#: Longest provider error text kept in a detail or a feedback's ``error``.
_MAX_ERROR_TEXT = 300


@dataclass(slots=True)
class Usage:
    """Tokens as the provider counted them (None: it did not say)."""

    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call: the endpoint, the key read from its variable (None: send none), the client's
    OpenAI request body (``model`` is replaced by the endpoint's), and the timeouts."""

    endpoint: ModelEndpoint
    api_key: str | None
    body: Mapping[str, Any]
    stream: bool


@dataclass(slots=True)
class Completion:
    """A whole ``chat.completion`` object."""

    body: dict[str, Any]
    usage: Usage = field(default_factory=Usage)


class ChunkStream(Protocol):
    """``chat.completion.chunk`` objects as they arrive; ``usage`` fills in as they do."""

    @property
    def usage(self) -> Usage: ...

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


Reply = Completion | ChunkStream


class Provider(Protocol):
    async def send(self, call: ProviderCall) -> Reply: ...


class ProviderError(Exception):
    """A call that failed; ``status`` is the provider's HTTP status when it answered one."""

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.status = status
        self.retry_after = retry_after


def error_for_status(
    status: int, text: str, headers: Mapping[str, str] | None = None
) -> ProviderError:
    """The failure an HTTP error status means.

    >>> error_for_status(429, "slow down", {"retry-after": "2"}).retry_after
    2.0
    >>> error_for_status(401, "bad key").kind, error_for_status(400, "no").kind
    ('fallback', 'refused')
    """
    shown = " ".join(text.split())[:_MAX_ERROR_TEXT] or "(no body)"
    message = f"HTTP {status} from the provider: {shown}"
    if status in (408, 409, 429) or status >= 500:
        kind: FailureKind = "retry"
    elif status in (401, 403, 404):
        kind = "fallback"
    else:
        kind = "refused"
    retry_after = retry_after_seconds((headers or {}).get("retry-after"))
    return ProviderError(message, kind=kind, status=status, retry_after=retry_after)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (None when absent or unreadable).

    >>> retry_after_seconds("1.5"), retry_after_seconds("soon")
    (1.5, None)
    >>> retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0)
    6.0
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None
