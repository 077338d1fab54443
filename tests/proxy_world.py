"""A real ``bandit-router serve`` in front of the local fake providers, with an HTTP client
that carries the admin key and the official ``openai`` SDK pointed at the router."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

from tests.proxy_fake import FakeProviders, fake_providers
from tests.server import RunningServer, start_server

__all__ = ["KEY_ENV", "ProxyWorld", "proxy_world"]

#: The variable the fake providers' key is read from (any value: the fakes check none).
KEY_ENV = "FAKE_OPENAI_KEY"


@dataclass
class ProxyWorld:
    server: RunningServer
    http: httpx.Client
    fake: FakeProviders
    sdk: openai.OpenAI


@contextmanager
def proxy_world(
    workdir: Path, *, env: dict[str, str] | None = None, sdk_retries: int = 2
) -> Iterator[ProxyWorld]:
    """The server on a fresh SQLite file in ``workdir`` (``env`` added to its environment),
    stopped on exit."""
    with fake_providers() as fake:
        server = start_server(
            f"sqlite:///{workdir / 'router.db'}",
            workdir,
            env={"BANDIT_ROUTER_PROVIDER_KEY_ENVS": KEY_ENV, KEY_ENV: "sk-fake", **(env or {})},
        )
        try:
            with (
                server.client() as http,
                openai.OpenAI(
                    base_url=f"{server.url}/v1", api_key=server.admin_key, max_retries=sdk_retries
                ) as sdk,
            ):
                yield ProxyWorld(server, http, fake, sdk)
        finally:
            server.stop()
