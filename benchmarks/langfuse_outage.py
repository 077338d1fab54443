"""Does a Langfuse outage slow routing? Route latency with Langfuse off, healthy, and hanging.

    PYTHONPATH=. .venv/bin/python benchmarks/langfuse_outage.py [--routes 600] [--repeats 3]

Starts three real servers (``bandit-router serve --port 0``, as the HTTP tests do), each on a
fresh SQLite file: one without Langfuse, one exporting to a healthy fake Langfuse
(``tests/langfuse_fake.py``, the real SDK on the router's side), one exporting to a fake that
accepts connections and never answers. Each repetition sends, to each server in turn,
``--routes`` routes each followed by its feedback, ``--concurrency`` at a time, and measures
every route's latency. Prints p50/p99 per server and repetition, then the medians over
repetitions, and the export counts from ``/v1/status`` (the hanging one drops, counted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.langfuse_fake import fake_langfuse
from tests.server import RunningServer, start_server

MODES = ("off", "healthy", "hanging")


async def _run(server: RunningServer, routes: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        counter = iter(range(routes))

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                response = await http.post(
                    "/v1/route", json={"policy": "default", "prompt": f"question {i % 50}"}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                feedback = {"decision_id": response.json()["decision_id"], "score": 0.5}
                (await http.post("/v1/feedback", json=feedback)).raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queue-size", type=int, default=1000)
    args = parser.parse_args()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        healthy = stack.enter_context(fake_langfuse())
        hanging = stack.enter_context(fake_langfuse())
        hanging.mode = "hang"
        servers: dict[str, RunningServer] = {}
        for mode in MODES:
            workdir = Path(tmp) / mode
            workdir.mkdir()
            env: dict[str, str] = {}
            if mode != "off":
                env = {
                    "LANGFUSE_PUBLIC_KEY": f"pk-{uuid.uuid4().hex}",
                    "LANGFUSE_SECRET_KEY": "sk-bench",
                    "LANGFUSE_HOST": (healthy if mode == "healthy" else hanging).url,
                    "BANDIT_ROUTER_LANGFUSE_QUEUE_SIZE": str(args.queue_size),
                    "BANDIT_ROUTER_LANGFUSE_POLL_SECONDS": "0",
                }
            servers[mode] = start_server(f"sqlite:///{workdir / 'router.db'}", workdir, env=env)
            stack.callback(servers[mode].stop)
        # Warm each server (first requests load lazily) before measuring.
        for server in servers.values():
            asyncio.run(_run(server, 50, args.concurrency))
        results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode in MODES:
                latencies = asyncio.run(_run(servers[mode], args.routes, args.concurrency))
                p50, p99 = _p(latencies, 0.50), _p(latencies, 0.99)
                results[mode].append((p50, p99))
                print(f"repeat {repeat + 1} {mode:8s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        print(
            f"\nmedians of {args.repeats} ({args.routes} routes + feedback each, "
            f"{args.concurrency} at a time):"
        )
        for mode in MODES:
            p50 = statistics.median(r[0] for r in results[mode])
            p99 = statistics.median(r[1] for r in results[mode])
            print(f"  langfuse {mode:8s} route p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")
        for mode in MODES[1:]:
            server = servers[mode]
            status = httpx.get(
                f"{server.url}/v1/status",
                headers={"Authorization": f"Bearer {server.admin_key}"},
            ).json()["langfuse"]
            print(f"  export counts ({mode}): {status}")
        hanging.released.set()


if __name__ == "__main__":
    main()
