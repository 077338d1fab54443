"""The server's memory after a million decisions: RSS as the decision log grows.

    PYTHONPATH=. .venv/bin/python benchmarks/memory_soak.py [--decisions 1000000]
    (wrk: Debian's package ``wrk``)

Starts the real server on a fresh SQLite file (shedding off, as in ``http_throughput.py``:
this measures memory, not overload), then drives ``POST /v1/route`` with wrk in rounds of
``--round-seconds`` while a second wrk sends feedback on decisions routed beforehand (one
score each first, then late repeats, so the learner keeps learning through the early rounds).
After each round it prints the decisions logged so far (from wrk's counts) and the resident
memory of the server process and of its learning child, read from ``/proc``. It stops once
``--decisions`` routes have been answered.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.http_throughput import run_wrk, wrk_script
from tests.server import start_server


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in found.read_text().split()] if found.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--round-seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server = start_server(
            f"sqlite:///{workdir / 'router.db'}", workdir, env={"BANDIT_ROUTER_MAX_WAIT_MS": "0"}
        )
        try:
            with server.client() as client:
                decisions = [
                    client.post("/v1/route", json={"prompt": f"seed {i}"}).json()["decision_id"]
                    for i in range(5000)
                ]
            routes = workdir / "route.lua"
            routes.write_text(
                wrk_script(
                    "/v1/route",
                    server.admin_key,
                    [
                        json.dumps({"prompt": f"How do I sort a list, take {i}?", "features": {}})
                        for i in range(200)
                    ],
                )
            )
            feedback = workdir / "feedback.lua"
            feedback.write_text(
                wrk_script(
                    "/v1/feedback",
                    server.admin_key,
                    [json.dumps({"decision_id": d, "score": 0.6}) for d in decisions],
                )
            )
            pid = server.process.pid
            wrk = shutil.which("wrk")
            if wrk is None:
                raise SystemExit("wrk is not installed (Debian's package wrk).")
            print(f"start: server RSS {rss_mb(pid):.0f} MB")
            routed, started = 0, time.monotonic()
            while routed < args.decisions:
                scores = subprocess.Popen(  # noqa: S603 - wrk from the system's packages
                    [
                        wrk,
                        "-t1",
                        "-c4",
                        f"-d{args.round_seconds / 4:g}s",
                        "-s",
                        str(feedback),
                        server.url + "/v1/feedback",
                    ],
                    stdout=subprocess.DEVNULL,
                )
                _, total = run_wrk(
                    server.url + "/v1/route", routes, args.round_seconds, args.connections
                )
                scores.wait()
                routed += total
                learner = [f"{rss_mb(child):.0f}" for child in children(pid)]
                status = httpx.get(f"{server.url}/v1/status", headers=server.headers).json()
                print(
                    f"{routed:>9,} decisions after {time.monotonic() - started:5.0f} s: "
                    f"server RSS {rss_mb(pid):.0f} MB, its children {', '.join(learner)} MB, "
                    f"learned {status['learned_interactions']:,}",
                    flush=True,
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
