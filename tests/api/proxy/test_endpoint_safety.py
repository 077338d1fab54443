"""Issue 21, items 4 and 5: endpoint URLs read by a real parser, an egress rule against
private targets (at PUT and, after DNS, on every call), transport errors as failed attempts,
and provider error text redacted before it reaches a caller, a log or the database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.proxy.egress import EgressGuard, EgressRefusedError
from api.proxy.provider import ProviderError
from api.proxy.transport import open_post
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with the default egress rule: public addresses only."""
    workdir: Path = tmp_path_factory.mktemp("strict")
    server = start_server(
        f"sqlite:///{workdir / 'router.db'}",
        workdir,
        env={"BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS": "false"},
    )
    try:
        yield server
    finally:
        server.stop()


def _put(server: RunningServer, base_url: str) -> httpx.Response:
    with server.client() as http:
        return http.put(
            "/v1/models/endpointed",
            json={
                "input_usd_per_mtok": 1.0,
                "output_usd_per_mtok": 1.0,
                "endpoint": {"api": "openai", "base_url": base_url, "model": "m"},
            },
        )


@pytest.mark.parametrize(
    ("base_url", "named"),
    [
        ("https://api.example.com/v1\r\nX-Injected: 1", "control characters"),
        ("https://user:secret@api.example.com/v1", "must not carry credentials"),
        ("https:///v1", "needs a host"),
        ("https://api.example.com/v1?key=1", "query or a fragment"),
        ("https://api.example.com:99999/v1", "not a valid URL"),
        ("http://127.0.0.1:8000/v1", "a loopback address"),
        ("http://169.254.169.254/latest", "a link-local address"),
        ("http://[::1]:8000/v1", "a loopback address"),
        ("http://0x7f000001/v1", "a loopback address"),
        ("http://2130706433/v1", "a loopback address"),
        ("http://10.1.2.3/v1", "a private address"),
        ("http://localhost:11434/v1", "a loopback name"),
        ("http://[::ffff:127.0.0.1]/v1", "a loopback address"),
    ],
)
def test_a_bad_or_private_endpoint_is_a_422_naming_it(
    strict: RunningServer, base_url: str, named: str
) -> None:
    response = _put(strict, base_url)

    assert response.status_code in (400, 422), response.text
    assert named in response.json()["detail"]
    with strict.client() as http:
        assert http.get("/v1/models/endpointed").status_code == 404


def test_a_public_endpoint_is_accepted(strict: RunningServer) -> None:
    assert _put(strict, "https://api.openai.com/v1").status_code in (200, 201)


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_call_time() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["10.0.0.7"] if host == "internal.example" else ["93.184.215.14"]

    class Answer(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={})

    guard = EgressGuard(Answer(), resolve=resolve)
    async with httpx.AsyncClient(transport=guard) as client:
        with pytest.raises(ProviderError, match="a name for a private address") as refused:
            await open_post(client, "https://internal.example/v1/x", {}, {})
        assert refused.value.kind == "fallback"  # this model cannot answer: the next one
        ok = await open_post(client, "https://public.example/v1/x", {}, {})
        assert ok.status_code == 200
        await ok.aclose()
    assert issubclass(EgressRefusedError, httpx.TransportError)


async def test_a_url_httpx_cannot_send_is_a_failed_attempt_not_a_500() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ProviderError) as failed:
            await open_post(client, "http://api.example.com/v1\r\n/x", {}, {})
    assert failed.value.kind == "fallback"
