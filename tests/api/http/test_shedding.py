"""Overload is shed at once: past the in-flight limit, 503 with Retry-After and a sentence."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
from litestar.types import Message, Receive, Scope, Send

from api.http.shedding import LoadShedder, LoopLag, StandingQueue
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


async def _status(shedder: LoadShedder, path: str) -> int:
    """The status ``shedder`` answers a POST to ``path`` with."""
    sent: list[dict[str, Any]] = []

    async def send(message: Message) -> None:
        sent.append(dict(message))

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    await shedder({"type": "http", "path": path}, receive, send)  # type: ignore[arg-type]
    return int(sent[0]["status"])


async def test_new_routes_are_refused_while_the_loop_keeps_a_standing_queue() -> None:
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    lag = LoopLag(0.01)
    shedder = LoadShedder(app, max_in_flight=1000, max_wait_seconds=0.01, lag=lag)

    async def call(path: str) -> int:
        return await _status(shedder, path)

    def admit(path: str, count: int) -> list[asyncio.Task[int]]:
        return [asyncio.create_task(call(path)) for _ in range(count)]

    # A loop that ran every timer at least 20 ms late through a whole interval: standing.
    lag.observe(0.020, now=0.05)
    lag.observe(0.030, now=0.12)
    assert lag.standing
    waiting = admit("/v1/route", 8)
    await asyncio.sleep(0)  # below the minimum queue they are taken, and wait at the gate
    assert not any(task.done() for task in waiting)
    assert await call("/v1/route") == 503
    assert await call("/v1/feedback") == 503
    assert shedder.shed == 2
    # Calls that mostly wait for someone else (streams, proxied LLM calls) are not refused.
    other = admit("/v1/chat/completions", 1)
    await asyncio.sleep(0)
    assert not other[0].done()

    # One interval in which a timer ran on time ends it: the ninth route is taken.
    lag.observe(0.030, now=0.15)
    lag.observe(0.001, now=0.23)
    assert not lag.standing
    more = admit("/v1/route", 1)
    await asyncio.sleep(0)
    assert not more[0].done()
    gate.set()
    assert await asyncio.gather(*waiting, *other, *more) == [200] * 10


async def test_the_timer_sees_a_loop_held_by_synchronous_work() -> None:
    lag = LoopLag(0.01)
    lag.start(asyncio.get_running_loop())
    try:
        for _ in range(4):  # 4 x 60 ms of work that never yields: every timer runs late
            time.sleep(0.06)
            await asyncio.sleep(0)
        assert lag.standing
        await asyncio.sleep(0.3)  # an idle loop runs its timers on time
        assert not lag.standing
    finally:
        lag.stop()


async def test_a_standing_writer_queue_refuses_new_routes_too() -> None:
    gate = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    writer = StandingQueue(0.01)
    shedder = LoadShedder(app, max_in_flight=1000, lag=LoopLag(0.01), writer=writer)

    async def status(path: str) -> int:
        return await _status(shedder, path)

    waiting = [asyncio.create_task(status("/v1/feedback")) for _ in range(8)]
    await asyncio.sleep(0)
    # Writes waited 50 ms and more for their turn through a whole interval: out of capacity.
    writer.observe(0.05, now=0.05)
    writer.observe(0.08, now=0.11)
    assert writer.standing
    assert await status("/v1/route") == 503
    gate.set()
    assert await asyncio.gather(*waiting) == [200] * 8
