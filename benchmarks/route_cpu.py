"""Server CPU time per ``POST /v1/route`` and per ``POST /v1/feedback``, for servers built from
different checkouts or settings, measured side by side in one run.

    PYTHONPATH=. .venv/bin/python benchmarks/route_cpu.py --requests 1000 --repeats 3 \\
        --variant before=../main: --variant after=.: \\
        --variant after-no-log=.:BANDIT_ROUTER_ACCESS_LOG=off

Each ``--variant NAME=CHECKOUT:ENV=VALUE,...`` starts the real server (``serve`` on a fresh
SQLite file) with that checkout first on ``PYTHONPATH`` and those environment variables, routes
``--requests`` requests one after another, then sends one feedback (a score) for each of those
decisions, and reads the server process's CPU time (user + system, ``/proc/PID/stat``) before
and after each phase, less what the idle server used over the same wall time (measured just
before). CPU time, unlike requests per second, is less disturbed by
other processes on a shared machine, though not untouched (caches, frequency). Variants run
interleaved, ``--repeats`` times; the medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from tests.server import RunningServer, start_server

_TICKS = os.sysconf("SC_CLK_TCK")
_IDLE_SECONDS = 3.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the line; 12 and 13 after the ")".
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _variant(text: str) -> tuple[str, str, dict[str, str]]:
    name, _, rest = text.partition("=")
    checkout, _, env_text = rest.partition(":")
    env = dict(pair.split("=", 1) for pair in env_text.split(",") if pair)
    return name, str(Path(checkout).resolve()), env


def _run(checkout: str, env: dict[str, str], requests: int) -> tuple[float, float]:
    """CPU seconds per route and per feedback of one server."""
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server: RunningServer = start_server(
            f"sqlite:///{workdir / 'router.db'}",
            workdir,
            env={**env, "PYTHONPATH": checkout},
        )
        pid = server.process.pid
        try:
            with server.client() as client:
                for i in range(20):  # warm up: imports, caches, the first snapshot
                    client.post("/v1/route", json={"prompt": f"warm {i}"}).raise_for_status()
                # The server's loops (learning, key and catalog refresh) use CPU while idle,
                # in proportion to wall time, which a loaded machine stretches: measure that
                # rate and take it off.
                idle_from, idle_cpu = time.monotonic(), _cpu_seconds(pid)
                time.sleep(_IDLE_SECONDS)
                idle_rate = (_cpu_seconds(pid) - idle_cpu) / (time.monotonic() - idle_from)
                started, before = time.monotonic(), _cpu_seconds(pid)
                decisions = []
                for i in range(requests):
                    routed = client.post("/v1/route", json={"prompt": f"How do I sort? ({i})"})
                    decisions.append(routed.raise_for_status().json()["decision_id"])
                route = _cpu_seconds(pid) - before - idle_rate * (time.monotonic() - started)
                started, before = time.monotonic(), _cpu_seconds(pid)
                for i, decision_id in enumerate(decisions):
                    body = {"decision_id": decision_id, "score": (i % 5) / 4, "source": "user"}
                    client.post("/v1/feedback", json=body).raise_for_status()
                feedback = _cpu_seconds(pid) - before - idle_rate * (time.monotonic() - started)
                return route / requests, feedback / requests
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", action="append", required=True, type=_variant)
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in args.variant}
    for repeat in range(args.repeats):
        for name, checkout, env in args.variant:
            route, feedback = _run(checkout, env, args.requests)
            runs[name].append((route, feedback))
            print(
                f"run {repeat + 1} {name:14} {route * 1e6:8.0f} us CPU per route "
                f"{feedback * 1e6:8.0f} us per feedback",
                flush=True,
            )
    for name, values in runs.items():
        route = statistics.median(r for r, _ in values)
        feedback = statistics.median(f for _, f in values)
        print(
            f"{name:14} median {route * 1e6:8.0f} us CPU per route "
            f"{feedback * 1e6:8.0f} us per feedback"
        )


if __name__ == "__main__":
    main()
