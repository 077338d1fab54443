"""Route throughput of one server process against two (``serve --workers 2``) on PostgreSQL.

    PYTHONPATH=. .venv/bin/python benchmarks/workers_throughput.py [--repeats 3] [--seconds 10]
    (wrk: Debian's package ``wrk``; PostgreSQL: ``BANDIT_ROUTER_TEST_POSTGRES_URL``, by default
    trust auth on 127.0.0.1:5432, database ``test``, as the tests use)

For each repetition, and alternating between the two, it starts ``serve --workers N`` on a
fresh PostgreSQL database (created beside that one, dropped afterwards),
routes a few requests so every worker is warm, runs wrk against ``POST /v1/route`` for
``--seconds`` with ``--connections`` connections, and stops the server. Prints each run's
requests per second, the medians, and their ratio (two workers against one), with each
setup's total CPU per route (every process of the server, learning children included).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.http_throughput import run_wrk, wrk_script
from tests.conftest import fresh_postgres_database
from tests.server import start_server


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and every process below it (workers, learning children)."""
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_tree_cpu_seconds(child) for child in children)


def _measure(workers: int, args: argparse.Namespace) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder, fresh_postgres_database() as url:
        workdir = Path(folder)
        # Capacity, as in http_throughput.py: every request is taken, none shed.
        server = start_server(
            url, workdir, "--workers", str(workers), env={"BANDIT_ROUTER_MAX_WAIT_MS": "0"}
        )
        try:
            with server.client() as client:
                for i in range(50 * workers):
                    client.post("/v1/route", json={"prompt": f"warm {i}"}).raise_for_status()
            bodies = [
                json.dumps({"policy": "default", "prompt": f"How do I sort a list, take {i}?"})
                for i in range(100)
            ]
            script = workdir / "route.lua"
            script.write_text(wrk_script("/v1/route", server.admin_key, bodies))
            before = _tree_cpu_seconds(server.process.pid)
            rate, total = run_wrk(server.url + "/v1/route", script, args.seconds, args.connections)
            spent = _tree_cpu_seconds(server.process.pid) - before
            return rate, 1000.0 * spent / max(total, 1)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {1: [], 2: []}
    costs: dict[int, list[float]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        for workers in (1, 2):
            rate, cost = _measure(workers, args)
            rates[workers].append(rate)
            costs[workers].append(cost)
            print(
                f"run {repeat + 1}, {workers} worker(s): {rate:8,.0f} routes/s, "
                f"{cost:.3f} CPU ms per route",
                flush=True,
            )
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(
        f"medians of {args.repeats}: one worker {one:,.0f}/s "
        f"({statistics.median(costs[1]):.3f} CPU ms/route), two workers {two:,.0f}/s "
        f"({statistics.median(costs[2]):.3f} CPU ms/route): {two / one:.2f}x"
    )


if __name__ == "__main__":
    main()
