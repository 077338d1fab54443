"""Route and feedback throughput against a bare Litestar app, measured in one run with wrk.

    PYTHONPATH=. .venv/bin/python benchmarks/http_throughput.py --repeats 3 --seconds 10
    (wrk: Debian's package ``wrk``)

Starts the real server on a fresh SQLite file and the bare app (``benchmarks/bare_app.py``:
the same strict body decoding, a fixed answer), then, ``--repeats`` times and alternating
between the two, runs wrk for ``--seconds`` with ``--connections`` connections against
``POST /v1/route`` and ``POST /v1/feedback`` (feedback on 1,000 decisions routed beforehand,
one score each; the first per decision joins its reward, later ones are stored as late). It
prints each run's requests per second and the medians, and the router's share of the bare
app's throughput. The machine is shared: read ratios measured in the same run, not absolutes.

The server runs with ``BANDIT_ROUTER_MAX_WAIT_MS=0``: wrk keeps every connection busy, a
standing queue by construction, which the default settings would shed with fast 503s; this
measures how much the server can do, so it takes every request (and any non-2xx answer is an
error). ``benchmarks/open_loop.py`` measures the shedding.

It also prints the CPU time each server process spent per request (user + system, from
``/proc``): on a machine other jobs keep busy, throughput falls with the CPU share the server
gets, while the CPU a request costs moves much less, so its ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.server import start_server

_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")
_NOT_OK = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_LUA = """
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["authorization"] = "Bearer {key}"
local bodies = {bodies}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "{path}", nil, bodies[(n % #bodies) + 1])
end
"""


def wrk_script(path: str, key: str, bodies: list[str]) -> str:
    quoted = ", ".join(json.dumps(body) for body in bodies)
    return _LUA.format(key=key, path=path, bodies="{" + quoted + "}")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, script: Path, seconds: float, connections: int) -> tuple[float, int]:
    """wrk's requests per second and its count of requests."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    # wrk from the system's packages, found on PATH, with our own arguments.
    completed = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    found, total = _RATE.search(completed.stdout), _TOTAL.search(completed.stdout)
    if found is None or total is None:
        raise RuntimeError(f"wrk printed no rate:\n{completed.stdout}\n{completed.stderr}")
    refused = _NOT_OK.search(completed.stdout)
    if refused is not None:
        raise RuntimeError(f"{refused.group(1)} answers were not 2xx:\n{completed.stdout}")
    return float(found.group(1)), int(total.group(1))


def _wrk(url: str, script: Path, seconds: float, connections: int, pid: int) -> tuple[float, float]:
    """Requests per second, and the server's CPU milliseconds per request."""
    before = _cpu_seconds(pid)
    rate, total = run_wrk(url, script, seconds, connections)
    return rate, 1000.0 * (_cpu_seconds(pid) - before) / max(total, 1)


def start_bare(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port_file = workdir / "bare.port"
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).with_name("bare_app.py")), str(port_file)]
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the bare app did not start")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port_file.read_text()}"
    while True:
        try:
            httpx.post(f"{url}/health", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server = start_server(
            f"sqlite:///{workdir / 'router.db'}", workdir, env={"BANDIT_ROUTER_MAX_WAIT_MS": "0"}
        )
        bare, bare_url = start_bare(workdir)
        try:
            with server.client() as client:
                decisions = [
                    client.post("/v1/route", json={"prompt": f"seed {i}"}).json()["decision_id"]
                    for i in range(1000)
                ]
            routes = [
                json.dumps({"policy": "default", "prompt": f"How do I sort a list, take {i}?"})
                for i in range(100)
            ]
            feedback = [json.dumps({"decision_id": d, "score": 0.7}) for d in decisions]
            scripts = {}
            for name, path, bodies in (
                ("route", "/v1/route", routes),
                ("feedback", "/v1/feedback", feedback),
            ):
                script = workdir / f"{name}.lua"
                script.write_text(wrk_script(path, server.admin_key, bodies))
                scripts[name] = (path, script)
            rates: dict[tuple[str, str], list[float]] = {}
            costs: dict[tuple[str, str], list[float]] = {}
            targets = (("router", server.url, server.process.pid), ("bare", bare_url, bare.pid))
            for repeat in range(args.repeats):
                for name, (path, script) in scripts.items():
                    for target, url, pid in targets:
                        rate, cost = _wrk(url + path, script, args.seconds, args.connections, pid)
                        rates.setdefault((name, target), []).append(rate)
                        costs.setdefault((name, target), []).append(cost)
                        print(
                            f"run {repeat + 1} {name:8} {target:6} {rate:8,.0f} requests/s "
                            f"{cost:6.3f} CPU ms/request"
                        )
            for name in scripts:
                router = statistics.median(rates[(name, "router")])
                base = statistics.median(rates[(name, "bare")])
                router_cost = statistics.median(costs[(name, "router")])
                base_cost = statistics.median(costs[(name, "bare")])
                print(
                    f"{name}: router {router:,.0f}/s, bare app {base:,.0f}/s (medians of "
                    f"{args.repeats}): {router / base:.0%} of the bare app; CPU per request "
                    f"{router_cost:.3f} ms against {base_cost:.3f} ms: "
                    f"{base_cost / router_cost:.0%} of the bare app's capacity"
                )
        finally:
            bare.terminate()
            bare.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    main()
