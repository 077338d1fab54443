"""Server-sent events in and out: read a provider's ``data:`` events, write the client's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from api.proxy.provider import ProviderError

__all__ = ["DONE", "encode", "events", "parse"]

#: The last event of an OpenAI stream.
DONE = b"data: [DONE]\n\n"


def encode(payload: dict[str, Any]) -> bytes:
    """One ``data:`` event."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """``(event name, data)`` per event; a broken connection is a ``ProviderError``."""
    name: str | None = None
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield name, "\n".join(data)
                name, data = None, []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                name = line[6:].strip()
        if data:
            yield name, "\n".join(data)
    except httpx.TimeoutException as error:
        raise ProviderError(
            f"The provider's stream stalled ({type(error).__name__}).", kind="retry"
        ) from error
    except httpx.HTTPError as error:
        raise ProviderError(
            f"The provider's stream broke off ({type(error).__name__}: {error}).", kind="retry"
        ) from error


def parse(data: str) -> dict[str, Any]:
    """An event's JSON object (anything else is the provider breaking its protocol)."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as error:
        raise ProviderError(
            f"The provider sent an event that is not JSON: {data[:200]!r}.", kind="retry"
        ) from error
    if not isinstance(value, dict):
        raise ProviderError(
            f"The provider sent an event that is not a JSON object: {data[:200]!r}.",
            kind="retry",
        )
    return value
