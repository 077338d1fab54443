"""What the garbage collector costs a route, with CPython's defaults and with ``serve``'s tuning.

    PYTHONPATH=. .venv/bin/python benchmarks/gc_in_process.py --requests 4000 --repeats 3

Each measurement runs in a fresh process: it builds the app (``create_app``) on a fresh SQLite
file, runs its startup, routes 1,000 requests to warm up, then drives ``--requests`` more
``POST /v1/route`` calls straight through the ASGI interface, 32 at a time (no HTTP server
and no client, so what is measured is the app). It reports the process's CPU time per route
and the time spent in garbage collections per route (timed with ``gc.callbacks``, with how many
of each generation and how many objects the collector tracks at the end), with the
collector left at CPython's defaults or tuned as ``serve`` tunes it
(``api.service.gc_tuning.tune_for_serving``, applied after startup as ``serve`` does). The two
alternate ``--repeats`` times; medians are printed.

    PYTHONPATH=. .venv/bin/python benchmarks/gc_in_process.py --requests 4000 --profile r.prof

profiles one tuned run instead and prints where the routes' own time went, function by
function (the main thread's; the group commit's thread is not profiled).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_KEY = "benchmark-admin-key-0123456789"
_CONCURRENCY = 32


async def _call(app: Any, body: bytes) -> int:
    """One ``POST /v1/route`` through the ASGI interface; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/route",
        "raw_path": b"/v1/route",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {_KEY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _measure(tuned: bool, requests: int, profile: str | None = None) -> dict[str, float]:
    from api.app import create_app
    from api.service.gc_tuning import tune_for_serving
    from api.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        environ = {
            **os.environ,
            "BANDIT_ROUTER_ADMIN_KEY": _KEY,
            "BANDIT_ROUTER_MAX_WAIT_MS": "0",
            "BANDIT_ROUTER_ACCESS_LOG": "off",
        }
        settings = Settings.from_environment(environ, database_url=f"sqlite:///{folder}/r.db")
        app = create_app(settings)
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        lifespan = asyncio.create_task(
            app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
        )
        if (await outbox.get())["type"] != "lifespan.startup.complete":
            raise RuntimeError("the app did not start")
        bodies = [
            json.dumps({"prompt": f"How do I sort a list, take {i}?"}).encode() for i in range(100)
        ]
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def route(i: int) -> None:
            async with gate:
                status = await _call(app, bodies[i % len(bodies)])
            if status != 200:
                raise RuntimeError(f"a route answered {status}")

        await asyncio.gather(*(route(i) for i in range(1000)))
        if tuned:
            tune_for_serving()
        collecting = {"started": 0.0, "seconds": 0.0}
        collections = [0, 0, 0]

        def timed(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                collecting["started"] = time.perf_counter()
            else:
                collecting["seconds"] += time.perf_counter() - collecting["started"]
                collections[info["generation"]] += 1

        gc.callbacks.append(timed)
        profiler = cProfile.Profile() if profile else None
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(*(route(i) for i in range(requests)))
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = time.process_time() - cpu
        gc.callbacks.remove(timed)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan
    return {
        "cpu_us": 1e6 * cpu / requests,
        "gc_us": 1e6 * collecting["seconds"] / requests,
        "young": collections[0],
        "middle": collections[1],
        "full": collections[2],
        "objects": len(gc.get_objects()),
    }


def _run_child(tuned: bool, requests: int, profile: str | None = None) -> dict[str, float]:
    completed = subprocess.run(  # noqa: S603 - this script, with our own arguments
        [
            sys.executable,
            __file__,
            "--child",
            "tuned" if tuned else "default",
            str(requests),
            *([profile] if profile else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--child":
        import uvloop

        profile = sys.argv[4] if len(sys.argv) == 5 else None
        figures = uvloop.run(_measure(sys.argv[2] == "tuned", int(sys.argv[3]), profile))
        print(json.dumps(figures))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="instead: one tuned run under cProfile, its stats written to FILE (pstats), and "
        "the functions that took most of the routes' own time printed",
    )
    args = parser.parse_args()
    if args.profile:
        _run_child(True, args.requests, args.profile)
        _print_profile(args.profile, args.requests)
        return
    results: dict[str, list[dict[str, float]]] = {"default": [], "tuned": []}
    for repeat in range(args.repeats):
        for name in ("default", "tuned"):
            figures = _run_child(name == "tuned", args.requests)
            results[name].append(figures)
            print(
                f"run {repeat + 1} {name:7}: {figures['cpu_us']:6.0f} us CPU per route, "
                f"{figures['gc_us']:5.0f} us of it in garbage collection "
                f"({figures['young']:.0f} young, {figures['middle']:.0f} middle, "
                f"{figures['full']:.0f} full collections; {figures['objects']:,.0f} objects "
                "tracked at the end)",
                flush=True,
            )
    for name, runs in results.items():
        cpu = statistics.median(run["cpu_us"] for run in runs)
        collected = statistics.median(run["gc_us"] for run in runs)
        print(
            f"{name:7}: median {cpu:.0f} us CPU per route, {collected:.0f} us in garbage "
            f"collection ({args.repeats} runs of {args.requests} routes)"
        )


#: Where a function's own time is counted, by the first pattern its file or name contains.
_PARTS = (
    ("Litestar's guard copying the route handler", ("copy.py", "copyreg", "__reduce_ex__")),
    ("Litestar and uvicorn", ("litestar", "uvicorn")),
    ("our HTTP layer", ("/api/http/", "prometheus")),
    ("the router service", ("/api/service/",)),
    ("the decision: bandit, VW, NumPy", ("/bandit/", "pylibvw", "numpy")),
    ("features and their regular expressions", ("/features/", "re.Pattern")),
    ("storage on the loop", ("/storage/", "sqlalchemy", "aiosqlite")),
    ("built-in calls", ("~",)),
)


def _part(file: str, name: str) -> str:
    for part, patterns in _PARTS:
        if any(pattern in file or pattern in name for pattern in patterns):
            return part
    return "the rest (stdlib, asyncio, this script)"


def _print_profile(path: str, requests: int) -> None:
    """Own time per route by part of the code, then the functions with the most of it
    (cProfile's overhead included)."""
    stats = pstats.Stats(path)
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])  # type: ignore[attr-defined]
    total = sum(row[1][2] for row in rows)
    print(f"{1e6 * total / requests:.0f} us of own time per route under the profiler:")
    parts: dict[str, float] = {}
    for (file, _, name), (_, _, own, _, _) in rows:
        parts[_part(file, name)] = parts.get(_part(file, name), 0.0) + own
    for part, own in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"{100 * own / total:5.1f}%  {part}")
    print("the top 30 functions:")
    for (file, line, name), (_, _, own, _, _) in rows[:30]:
        where = file.split("site-packages/")[-1].replace(os.getcwd() + "/", "")
        print(f"{1e6 * own / requests:7.1f} us  {name} ({where}:{line})")


if __name__ == "__main__":
    main()
