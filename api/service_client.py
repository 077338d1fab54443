"""How the CLI talks to a running service: one place for URLs, JSON bodies and errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["ServiceError", "fetch_json", "open_service", "quote"]


class ServiceError(Exception):
    """The service refused or could not be reached; the message is a sentence for the operator."""


def quote(segment: str) -> str:
    """A path segment, with ``/`` escaped too."""
    return urllib.parse.quote(segment, safe="")


@contextmanager
def open_service(
    base_url: str,
    path: str,
    *,
    key: str | None = None,
    query: Mapping[str, object] | None = None,
    method: str = "GET",
    body: object | None = None,
    timeout: float = 60.0,
) -> Iterator[IO[bytes]]:
    """The response of ``method base_url + path``; a 4xx/5xx becomes its ``detail`` sentence.
    ``key`` is sent as ``Authorization: Bearer <key>``."""
    url = base_url.rstrip("/") + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    request = urllib.request.Request(  # noqa: S310 - the operator's own service URL
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            **({"authorization": f"Bearer {key}"} if key else {}),
        },
    )
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as error:
        raise ServiceError(_detail(error)) from error
    except urllib.error.URLError as error:
        raise ServiceError(f"cannot reach {base_url}: {error.reason}") from error
    with response:
        yield response


def fetch_json(base_url: str, path: str, **options: Any) -> Any:
    with open_service(base_url, path, **options) as response:
        return json.load(response)


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(error.read() or b"{}").get("detail")
    except (ValueError, AttributeError):  # not our JSON error body (a proxy's page, say)
        detail = None
    return str(detail) if detail else f"the service answered {error.code} {error.reason}."
