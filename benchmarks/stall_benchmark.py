"""Does routing stall while heavy reports and a relearn run? Route latency, idle against loaded.

    PYTHONPATH=. .venv/bin/python benchmarks/stall_benchmark.py --decisions 100000 \\
        --database var/stall.db [--skip-relearn] [--repeats 3] [--rate 50]

Starts the real server (``bandit-router serve --port 0``, as the HTTP tests do, with a fresh
``BANDIT_ROUTER_ADMIN_KEY`` and the bearer key on every request) on the SQLite file given. When
that file holds fewer than ``--decisions`` decisions of the ``default`` policy, it is filled
(a route then a feedback per decision, ``--fill-concurrency`` at once), and the benchmark
waits until the server's learner has learned every reward. A filled file is reused by later
runs. The fill runs before the server starts, in this process, through the router's own
services (the code behind ``POST /v1/route`` and ``POST /v1/feedback``, without the HTTP
layer); the server then loads the learned snapshot and catches up any rest.

Each repetition measures two windows with an open-loop generator: routes are scheduled at
``--rate`` per second and each latency is measured from its *scheduled* send time, so a stalled
server is charged for the routes it kept waiting (no coordinated omission).

- idle: ``--idle-seconds`` of routes alone;
- loaded: routes while one evaluation, one drift report and (unless ``--skip-relearn``) one
  policy relearn (a PUT changing the learning rate) run concurrently, from their start until
  the last of them has answered (at most ``--max-loaded-seconds``; any still running then are
  abandoned by disconnecting).

Prints p50/p99 per window and their ratio per repetition, then the medians over repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import RunningServer, start_server

POLICY = "default"
TASKS = ("code", "chat", "math", "summary", "translate")
PROMPTS = (
    "Write a Python function that {x} and explain its complexity.",
    "Summarise this paragraph about {x} in two sentences.",
    "What is {x}? Answer briefly.",
    "Translate into French: the {x} is on the table.",
    "Prove that {x} holds for every natural number.",
)
#: Connections that send the scheduled routes (a stalled server keeps them all waiting).
SENDERS = 32
WORDS = ("sorting", "graphs", "weather", "history", "prime numbers", "tea", "rivers", "compilers")


@dataclass(frozen=True)
class Window:
    p50_ms: float
    p99_ms: float
    routes: int
    errors: int


@dataclass(frozen=True)
class Repetition:
    idle: Window
    loaded: Window
    jobs: dict[str, str]


def _prompt(rng: random.Random) -> dict[str, Any]:
    template = rng.choice(PROMPTS)
    return {
        "policy": POLICY,
        "prompt": template.format(x=rng.choice(WORDS)) + f" ({rng.randrange(10_000)})",
        "features": {"task": rng.choice(TASKS)},
    }


def _count(database: Path, query: str) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as connection:
        try:
            row = connection.execute(query, (POLICY,)).fetchone()
        except sqlite3.OperationalError:  # no tables yet
            return 0
    return int(row[0])


def _count_decisions(database: Path) -> int:
    return _count(database, "SELECT count(*) FROM decisions WHERE policy = ?")


def _count_rewards(database: Path) -> int:
    """Rewarded decisions (the routes of earlier measurements have no feedback)."""
    return _count(
        database,
        "SELECT count(*) FROM rewards JOIN decisions ON decisions.id = rewards.decision_id "
        "WHERE decisions.policy = ?",
    )


async def _fill(database_url: str, count: int, concurrency: int, seed: int) -> None:
    """``count`` routes, each followed by a feedback with a seeded score and cost, through the
    router's own services in this process (the code behind ``POST /v1/route`` and
    ``POST /v1/feedback``, without HTTP: over HTTP on two shared cores the fill alone took an
    hour). Its learner learns along; closing writes the final snapshot."""
    from api.app import open_services
    from api.service.offload import ThreadRunner
    from api.service.router import RouteRequest
    from api.settings import Settings
    from domain import FeedbackInput

    next_index = 0
    done = 0
    started = time.monotonic()
    async with open_services(Settings(database_url=database_url), runner=ThreadRunner()) as svc:

        async def worker(worker_id: int) -> None:
            nonlocal next_index, done
            rng = random.Random(seed * 1_000_003 + worker_id)  # noqa: S311 - seeded load
            while next_index < count:
                next_index += 1
                body = _prompt(rng)
                decision = await svc.router.route(
                    RouteRequest(policy=POLICY, prompt=body["prompt"], features=body["features"])
                )
                mean = 0.5 + 0.08 * (sum(map(ord, decision.chosen_model)) % 5)  # fixed per model
                await svc.router.feedback(
                    FeedbackInput(
                        decision_id=decision.id,
                        source="user",
                        score=min(1.0, max(0.0, rng.gauss(mean, 0.2))),
                        cost_usd=rng.uniform(0.0001, 0.01),
                        latency_ms=rng.uniform(200, 3000),
                    )
                )
                done += 1
                if done % 10_000 == 0:
                    rate = done / (time.monotonic() - started)
                    print(f"  filled {done} decisions ({rate:.0f}/s)", flush=True)

        await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def _wait_learned(client: httpx.AsyncClient, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    learned = 0
    while time.monotonic() < deadline:
        policy = (await client.get(f"/v1/policies/{POLICY}")).json()
        learned = int(policy["learner"]["learned_interactions"])
        if learned >= expected:
            return learned
        await asyncio.sleep(2)
    return learned


async def open_loop(
    client: httpx.AsyncClient, rate: float, stop: asyncio.Event, seed: int, max_seconds: float
) -> Window:
    """Routes scheduled every ``1 / rate`` s until ``stop`` is set; latency from schedule.

    A pacer puts each route on a queue at its scheduled time and :data:`SENDERS` connections
    send them; a route that waits in the queue because the server is slow is charged for the
    wait. (One task per route instead piles thousands of requests into httpx's connection
    pool during a stall, whose bookkeeping then saturates this process and measures itself.)
    """
    rng = random.Random(seed)  # noqa: S311 - seeded load, not a secret
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[tuple[float, dict[str, Any]] | None] = asyncio.Queue()

    async def sender() -> None:
        nonlocal errors
        while (item := await queue.get()) is not None:
            scheduled, body = item
            try:
                response = await client.post("/v1/route", json=body)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - scheduled)

    senders = [asyncio.create_task(sender()) for _ in range(SENDERS)]
    start = time.perf_counter()
    i = 0
    while not stop.is_set() and time.perf_counter() - start < max_seconds:
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, _prompt(rng)))
        i += 1
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    values = np.array(latencies) * 1000.0
    return Window(
        p50_ms=float(np.percentile(values, 50)),
        p99_ms=float(np.percentile(values, 99)),
        routes=len(latencies),
        errors=errors,
    )


async def _relearn_body(client: httpx.AsyncClient, repetition: int) -> dict[str, Any]:
    policy = (await client.get(f"/v1/policies/{POLICY}")).json()
    exploration = dict(policy["exploration"])
    # A different learning rate each time, so every PUT is a change that relearns the log.
    exploration["learning_rate"] = 0.4 + 0.1 * repetition
    return {
        "models": policy["models"],
        "reward": policy["reward"],
        "exploration": exploration,
        "features": policy["features"],
        "store_prompts": policy["store_prompts"],
    }


async def _repetition(
    client: httpx.AsyncClient, heavy: httpx.AsyncClient, args: argparse.Namespace, index: int
) -> Repetition:
    never = asyncio.Event()
    idle = await open_loop(client, args.rate, never, 1000 + index, args.idle_seconds)

    jobs: dict[str, str] = {}

    async def timed(name: str, request: Any) -> None:
        began = time.perf_counter()
        try:
            response = await request
            jobs[name] = f"{response.status_code} in {time.perf_counter() - began:.1f} s"
        except asyncio.CancelledError:
            jobs[name] = f"abandoned after {time.perf_counter() - began:.1f} s"
            raise

    calls = [
        timed("evaluation", heavy.get(f"/v1/policies/{POLICY}/evaluation")),
        timed("drift", heavy.get(f"/v1/policies/{POLICY}/drift")),
    ]
    if not args.skip_relearn:
        body = await _relearn_body(client, index)
        calls.append(timed("relearn", heavy.put(f"/v1/policies/{POLICY}", json=body)))
    stop = asyncio.Event()
    running = [asyncio.create_task(call) for call in calls]

    async def watch() -> None:
        await asyncio.wait(running)
        stop.set()

    watcher = asyncio.create_task(watch())
    loaded = await open_loop(client, args.rate, stop, 2000 + index, args.max_loaded_seconds)
    for task in running:
        task.cancel()  # closes the connection: the server abandons the report
    await asyncio.gather(*running, watcher, return_exceptions=True)
    return Repetition(idle, loaded, jobs)


def _rss_mb(pid: int) -> float:
    """The server process's resident memory (its report children are not counted: they exit)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _print_window(name: str, window: Window) -> None:
    print(
        f"    {name:6s} p50 {window.p50_ms:8.1f} ms  p99 {window.p99_ms:8.1f} ms  "
        f"({window.routes} routes, {window.errors} errors)"
    )


async def _main(args: argparse.Namespace, server: RunningServer) -> None:
    headers = server.headers
    limits = httpx.Limits(max_connections=SENDERS, max_keepalive_connections=SENDERS)
    async with (
        httpx.AsyncClient(
            base_url=server.url, headers=headers, timeout=600, limits=limits
        ) as client,
        httpx.AsyncClient(base_url=server.url, headers=headers, timeout=900) as heavy,
    ):
        began = time.monotonic()
        await asyncio.sleep(2)  # the last feedbacks join within one learning interval
        expected = _count_rewards(args.database)
        learned = await _wait_learned(client, expected, timeout=1800)
        print(
            f"learner has learned {learned} interactions (waited {time.monotonic() - began:.0f} "
            f"s); the log holds {_count_decisions(args.database)} decisions, {expected} rewarded",
            flush=True,
        )
        results = []
        print(f"server RSS before the repetitions: {_rss_mb(server.process.pid):.0f} MB")
        for index in range(args.repeats):
            result = await _repetition(client, heavy, args, index)
            results.append(result)
            print(f"  repetition {index + 1}: jobs {result.jobs}")
            _print_window("idle", result.idle)
            _print_window("loaded", result.loaded)
            print(f"    p99 ratio loaded/idle {result.loaded.p99_ms / result.idle.p99_ms:.2f}")
            print(f"    server RSS after: {_rss_mb(server.process.pid):.0f} MB", flush=True)
        idle_p50 = statistics.median(r.idle.p50_ms for r in results)
        idle_p99 = statistics.median(r.idle.p99_ms for r in results)
        loaded_p50 = statistics.median(r.loaded.p50_ms for r in results)
        loaded_p99 = statistics.median(r.loaded.p99_ms for r in results)
        ratio = statistics.median(r.loaded.p99_ms / r.idle.p99_ms for r in results)
        print(f"\nmedians over {len(results)} repetitions, {args.rate:g} routes/s:")
        print("| window | p50 ms | p99 ms |")
        print("|---|---:|---:|")
        print(f"| idle | {idle_p50:.1f} | {idle_p99:.1f} |")
        label = "loaded (evaluation + drift" + ("" if args.skip_relearn else " + relearn") + ")"
        print(f"| {label} | {loaded_p50:.1f} | {loaded_p99:.1f} |")
        print(f"p99 ratio loaded/idle (median of repetitions): {ratio:.2f}")
        verdict = "met" if ratio <= 2.0 and loaded_p99 < 50.0 else "NOT met"
        print(f"target (loaded p99 <= 2x idle and < 50 ms): {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", type=Path, default=None, help="SQLite file (reused)")
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--fill-concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=50.0, help="routes per second")
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--max-loaded-seconds", type=float, default=120.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-relearn", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="stall-"))
    if args.database is None:
        args.database = workdir / "router.db"
    args.database = args.database.resolve()
    args.database.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{args.database}"
    present = _count_decisions(args.database)
    if present < args.decisions:
        missing = args.decisions - present
        print(f"filling {missing} decisions through the services ({present} present)", flush=True)
        began = time.monotonic()
        asyncio.run(_fill(url, missing, args.fill_concurrency, args.seed))
        print(f"  fill took {time.monotonic() - began:.0f} s", flush=True)
    # A SIGTERM must still stop the server (the finally below), not leave it orphaned.
    server = start_server(url, workdir)

    def terminate(*_: object) -> None:
        server.stop()
        os._exit(1)

    signal.signal(signal.SIGTERM, terminate)
    print(f"server {server.url}, database {args.database}, log {server.log_path}", flush=True)
    try:
        asyncio.run(_main(args, server))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
