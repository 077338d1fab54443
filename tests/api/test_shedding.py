"""Overload is shed at once: past the in-flight limit, 503 with Retry-After and a sentence."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from litestar.types import Message, Receive, Scope, Send

from api.http.shedding import LoadShedder
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


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_standing_queue_of_short_calls_is_shed_until_they_are_fast_again() -> None:
    clock = _Clock()
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] != "/fast":
            await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    shedder = LoadShedder(app, max_in_flight=1000, max_wait_seconds=0.025, clock=clock)

    async def call(path: str) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: Message) -> None:
            sent.append(dict(message))

        async def receive() -> Message:
            return {"type": "http.disconnect"}

        await shedder({"type": "http", "path": path}, receive, send)  # type: ignore[arg-type]
        return int(sent[0]["status"])

    async def queue_of(count: int) -> list[asyncio.Task[int]]:
        tasks = [asyncio.create_task(call("/v1/route")) for _ in range(count)]
        await asyncio.sleep(0)  # each enters the app and waits at the gate
        return tasks

    # Ten routes wait 200 ms: even the fastest was slow for a whole interval.
    slow = await queue_of(10)
    clock.now = 0.2
    gate.set()
    assert await asyncio.gather(*slow) == [200] * 10
    gate.clear()

    # Below the minimum queue nothing is refused; at it, routes and feedback are, at once.
    waiting = await queue_of(8)
    assert await call("/v1/route") == 503
    assert await call("/v1/feedback") == 503
    assert shedder.shed == 2
    # Calls that are slow by nature (streams, proxied LLM calls) only meet the in-flight bound.
    other = asyncio.create_task(call("/v1/chat/completions"))
    await asyncio.sleep(0)
    assert not other.done()

    # Those routes waited 150 ms: the queue stood through that interval too.
    clock.now = 0.35
    gate.set()
    assert await asyncio.gather(*waiting, other) == [200] * 9
    gate.clear()
    assert await call("/fast") == 200  # not a short call: it does not end the shedding
    draining = await queue_of(8)
    assert await call("/v1/route") == 503
    gate.set()
    assert await asyncio.gather(*draining) == [200] * 8  # at once: no wait now
    gate.clear()

    # After an interval whose fastest call was quick, a queue of eight is taken again: the
    # ninth route is admitted (it waits at the gate) rather than refused.
    clock.now = 0.5
    gate.set()
    assert await call("/v1/route") == 200
    gate.clear()
    queued = await queue_of(9)
    assert not any(task.done() for task in queued)
    assert shedder.shed == 3
    gate.set()
    assert await asyncio.gather(*queued) == [200] * 9
