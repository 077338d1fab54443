"""What the access log and request metrics add to one request, measured in-process.

    PYTHONPATH=. .venv/bin/python benchmarks/request_log_overhead.py --requests 20000 --repeats 5

Drives the ``RequestLog`` ASGI wrapper around an app that answers at once (and names a
decision, as ``POST /v1/route`` does), with the access log off and on (lines written to
/dev/null through a stream handler, as ``serve`` installs on stdout), against the bare app; and
the metrics sink's work for one feedback. Prints CPU microseconds per request (process time,
which other processes on a shared machine disturb less than wall time; medians of
``--repeats`` interleaved runs). An end-to-end figure (wrk against the server) is in
``benchmarks/http_throughput.py``; on a shared machine its run-to-run noise is larger than
these microseconds, which is why they are measured here on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

from api.http.request_log import RequestLog
from api.telemetry.metrics import MetricsSink, RouterMetrics
from api.telemetry.sink import FeedbackScored
from domain import FeedbackRecord

_SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/v1/route",
    "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer x")],
}
_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"x")]}
_BODY = {"type": "http.response.body", "body": b"{}", "more_body": False}


async def _app(scope: Any, receive: Any, send: Any) -> None:
    scope["path_template"] = "/v1/route"
    scope["state"]["bandit_router.decision"] = ("0123456789abcdef0123456789abcdef", "default")
    await send(_START)
    await send(_BODY)


async def _receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def _per_request(app: Any, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await app({**_SCOPE, "state": {}}, _receive, _send)
    return (time.process_time() - started) / requests * 1e6


def _devnull_logger() -> logging.Logger:
    logger = logging.getLogger("benchmark.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(Path("/dev/null").open("w"))  # noqa: SIM115 - lives with the run
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return logger


def _sink_per_event(requests: int) -> float:
    sink = MetricsSink(RouterMetrics())
    feedback = FeedbackRecord(
        id="f",
        decision_id="d",
        source="user",
        score=0.5,
        cost_usd=None,
        latency_ms=850.0,
        error=None,
        idempotency_key=None,
        late=False,
        created_at=0.0,
        policy="default",
        model="gpt-4o-mini",
    )
    event = FeedbackScored(feedback)
    started = time.process_time()
    for _ in range(requests):
        sink.emit(event)
    return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logger = _devnull_logger()
    apps = {
        "bare app": _app,
        "RequestLog, log off": RequestLog(_app, metrics=RouterMetrics(), log=None),
        "RequestLog, log on": RequestLog(_app, metrics=RouterMetrics(), log=logger),
    }
    runs: dict[str, list[float]] = {name: [] for name in apps}
    sink_runs: list[float] = []
    for _ in range(args.repeats):  # interleaved, so machine noise hits every variant alike
        for name, app in apps.items():
            runs[name].append(asyncio.run(_per_request(app, args.requests)))
        sink_runs.append(_sink_per_event(args.requests))
    bare = statistics.median(runs["bare app"])
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"{name:22} {median:7.2f} us per request  (+{median - bare:5.2f} us)")
    print(f"{'metrics sink':22} {statistics.median(sink_runs):7.2f} us per feedback event")


if __name__ == "__main__":
    main()
