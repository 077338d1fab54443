"""Where the client finds the service and its key when the caller does not say."""

from __future__ import annotations

import os

import httpx

__all__ = [
    "DEFAULT_URL",
    "ENV_KEY",
    "ENV_URL",
    "headers",
    "resolve",
    "stopped_detail",
    "unreachable_detail",
]

ENV_URL = "BANDIT_ROUTER_URL"
ENV_KEY = "BANDIT_ROUTER_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"


def resolve(base_url: str | None, key: str | None) -> tuple[str, str | None]:
    """The arguments, else ``$BANDIT_ROUTER_URL`` / ``$BANDIT_ROUTER_KEY``, else the local
    default URL and no key. Read when a client is made, never at import."""
    url = base_url or os.environ.get(ENV_URL) or DEFAULT_URL
    return url.rstrip("/"), key if key is not None else os.environ.get(ENV_KEY) or None


def headers(key: str | None) -> dict[str, str]:
    base = {"accept": "application/json", "user-agent": "bandit-router-client"}
    return base | ({"authorization": f"Bearer {key}"} if key else {})


def unreachable_detail(base_url: str, error: Exception) -> str:
    reason = str(error).strip() or type(error).__name__
    return f"No answer from the router at {base_url}: {reason}."


def stopped_detail(response: httpx.Response, error: Exception) -> str:
    reason = str(error).strip() or type(error).__name__
    return f"The answer from {response.request.url} stopped before its end: {reason}."
