"""Overload is shed at once: past the in-flight limit, 503 with Retry-After and a sentence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.server import start_server


def test_requests_past_the_in_flight_limit_get_an_immediate_503(tmp_path: Path) -> None:
    server = start_server(
        f"sqlite:///{tmp_path / 'router.db'}", tmp_path, env={"BANDIT_ROUTER_MAX_IN_FLIGHT": "2"}
    )
    try:

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(
                base_url=server.url, headers=server.headers, timeout=30
            ) as client:
                return await asyncio.gather(
                    *(client.post("/v1/route", json={"prompt": f"burst {i}"}) for i in range(40))
                )

        answers = asyncio.run(burst())
        statuses = [a.status_code for a in answers]
        assert set(statuses) == {200, 503}, statuses
        shed = next(a for a in answers if a.status_code == 503)
        assert shed.headers["retry-after"] == "1"
        assert "limit of 2 requests in flight" in shed.json()["detail"]
        # The health check is never shed, and the server is fine afterwards.
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        with server.client() as client:
            assert client.post("/v1/route", json={"prompt": "after"}).status_code == 200
    finally:
        server.stop()
