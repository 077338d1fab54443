"""Does a burst of feedback move route latency? Learning in a child process against on the loop.

    PYTHONPATH=. .venv/bin/python benchmarks/feedback_burst.py [--rate 100] \\
        [--feedback-rate 200] [--seconds 10] [--repeats 3]

For each mode (``BANDIT_ROUTER_LEARN_IN_CHILD=1``, the default, and ``=0``) it starts the real
server (``bandit-router serve --port 0`` on a fresh SQLite file, as the HTTP tests do), routes
``--rate`` requests per second open loop (latency from each route's scheduled send time, so a
stalled server is charged for the routes it kept waiting), and measures two windows:

- idle: routes alone;
- burst: routes while ``--feedback-rate`` feedbacks per second arrive for decisions made
  before the window (the default policy's reward window is 0 s: each feedback is joined at
  once and learned in the next round).

Prints p50/p99 per window, the ratio burst/idle per repetition, and the medians over
repetitions; both modes run in the same invocation, so the machine's noise touches both.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.stall_benchmark import Window, open_loop
from tests.server import start_server

#: Connections that send the scheduled feedbacks.
FEEDBACK_SENDERS = 16


async def _make_decisions(client: httpx.AsyncClient, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)  # noqa: S311 - seeded load, not a secret
    ids: list[str] = []

    async def one(i: int) -> None:
        body = {"policy": "default", "prompt": f"question {i} about {rng.random():.6f}"}
        response = (await client.post("/v1/route", json=body)).raise_for_status()
        ids.append(response.json()["decision_id"])

    for start in range(0, count, 50):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + 50))))
    return ids


async def _feed(
    client: httpx.AsyncClient, decisions: list[str], rate: float, stop: asyncio.Event, seed: int
) -> int:
    """Feedback at ``rate`` per second until ``stop``; returns how many were accepted."""
    rng = random.Random(seed)  # noqa: S311 - seeded load, not a secret
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    accepted = 0

    async def sender() -> None:
        nonlocal accepted
        while (decision_id := await queue.get()) is not None:
            body = {"decision_id": decision_id, "score": rng.random(), "source": "user"}
            response = await client.post("/v1/feedback", json=body)
            accepted += response.status_code < 300

    senders = [asyncio.create_task(sender()) for _ in range(FEEDBACK_SENDERS)]
    start = time.perf_counter()
    for i, decision_id in enumerate(decisions):
        if stop.is_set():
            break
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(decision_id)
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    return accepted


async def _repetition(url: str, key: str, args: argparse.Namespace, index: int) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=64)
    client = httpx.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits)
    async with client:
        decisions = await _make_decisions(
            client, int(args.feedback_rate * args.seconds), seed=index
        )
        never = asyncio.Event()
        idle = await open_loop(client, args.rate, never, 100 + index, args.seconds)
        stop = asyncio.Event()
        feeding = asyncio.create_task(_feed(client, decisions, args.feedback_rate, stop, index))
        burst = await open_loop(client, args.rate, never, 200 + index, args.seconds)
        stop.set()
        accepted = await feeding
    return {"idle": idle, "burst": burst, "feedback": accepted}


def _line(name: str, window: Window) -> str:
    return (
        f"{name:6} p50 {window.p50_ms:7.1f} ms  p99 {window.p99_ms:7.1f} ms  "
        f"({window.routes} routes, {window.errors} errors)"
    )


async def _mode(learn_in_child: bool, args: argparse.Namespace, index: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(
            f"sqlite:///{workdir}/burst.db",
            Path(workdir),
            env={"BANDIT_ROUTER_LEARN_IN_CHILD": "1" if learn_in_child else "0"},
        )
        try:
            return await _repetition(server.url, server.admin_key, args, index)
        finally:
            server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="routes per second")
    parser.add_argument("--feedback-rate", type=float, default=200.0, help="feedbacks per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {"child": [], "loop": []}
    p99s: dict[str, list[float]] = {"child": [], "loop": []}
    for index in range(args.repeats):
        for mode in ("child", "loop"):
            result = await _mode(mode == "child", args, index)
            idle, burst = result["idle"], result["burst"]
            print(f"repetition {index + 1}, learning in the {mode}:", flush=True)
            print("  " + _line("idle", idle))
            print("  " + _line("burst", burst) + f", {result['feedback']} feedbacks accepted")
            ratios[mode].append(burst.p99_ms / idle.p99_ms)
            p99s[mode].append(burst.p99_ms)
    print(
        f"\nmedians over {args.repeats} repetitions at {args.rate:.0f} routes/s with "
        f"{args.feedback_rate:.0f} feedbacks/s:"
    )
    for mode in ("child", "loop"):
        print(
            f"  learning in the {mode:5}: burst p99 {statistics.median(p99s[mode]):6.1f} ms, "
            f"burst/idle p99 {statistics.median(ratios[mode]):4.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
