"""Route latency during a policy relearn, and the server's memory over a loop of policy PUTs.

    PYTHONPATH=. .venv/bin/python benchmarks/relearn_puts.py --rewards 3000 --puts 50
    PYTHONPATH=. .venv/bin/python benchmarks/relearn_puts.py --server-code ../main  # compare

Starts the real server on a fresh SQLite file (the server's code from ``--server-code``), logs
``--rewards`` routed-and-scored decisions on the default policy, then prints: route p50/p99 on
the idle server; route p50/p99 while one PUT of the policy relearns the log, and how long that
PUT took; the server's RSS before and after ``--puts`` PUTs in a row.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from tests.server import start_server

POLICY = {
    "models": ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3.1-8b-instruct"],
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def route_latencies(
    client: httpx.Client, count: int, stop: threading.Event | None = None
) -> list[float]:
    times: list[float] = []
    for i in range(count):
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        answer = client.post("/v1/route", json={"prompt": f"probe {i}", "features": {"n": i % 5}})
        answer.raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return (
        f"n={len(ordered)} p50={statistics.median(ordered) * 1000:.1f} ms p99={p99 * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rewards", type=int, default=3000)
    parser.add_argument("--puts", type=int, default=50)
    parser.add_argument("--server-code", type=Path, default=Path.cwd())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(
            f"sqlite:///{workdir}/router.db",
            Path(workdir),
            env={"PYTHONPATH": str(args.server_code.resolve())},
        )
        try:
            with server.client(timeout=600) as client:
                for i in range(args.rewards):
                    routed = client.post(
                        "/v1/route", json={"prompt": f"question {i % 97}", "features": {"n": i % 5}}
                    ).json()
                    client.post(
                        "/v1/feedback",
                        json={"decision_id": routed["decision_id"], "score": (i % 10) / 10},
                    ).raise_for_status()
                time.sleep(3)  # let the learning loop take the last rewards
                print(f"server code: {args.server_code.resolve()}; {args.rewards} rewards logged")
                print("idle route:          ", summary(route_latencies(client, 300)))

                done = threading.Event()
                took: list[float] = []

                def put() -> None:
                    with server.client(timeout=600) as other:
                        started = time.perf_counter()
                        other.put("/v1/policies/default", json=POLICY).raise_for_status()
                        took.append(time.perf_counter() - started)
                    done.set()

                thread = threading.Thread(target=put)
                thread.start()
                during = route_latencies(client, 100_000, stop=done)
                thread.join()
                print("route during relearn:", summary(during), f"(PUT took {took[0]:.2f} s)")

                before = rss_mb(server.process.pid)
                started = time.perf_counter()
                for _ in range(args.puts):
                    client.put("/v1/policies/default", json=POLICY).raise_for_status()
                elapsed = time.perf_counter() - started
                after = rss_mb(server.process.pid)
                print(
                    f"RSS before {args.puts} PUTs: {before:.0f} MB; after: {after:.0f} MB "
                    f"({elapsed / args.puts:.2f} s per PUT)"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
