"""Route latency at a fixed arrival rate, with feedback arriving too: the router against the
bare app, the accepted requests' p50/p99, what was shed, what timed out, and memory.

    PYTHONPATH=. .venv/bin/python benchmarks/open_loop.py [--rates 300,1000] \\
        [--feedback-rate 200] [--seconds 10] [--repeats 3]

Starts the real server (``bandit-router serve --port 0`` on a fresh SQLite file, the default
settings) and the bare app of ``benchmarks/bare_app.py``. For each rate, ``--repeats`` times:
routes are scheduled every ``1 / rate`` s for ``--seconds`` and sent over a pool of keep-alive
connections; each latency is measured from the route's *scheduled* time, so a server that
falls behind is charged for the wait (no coordinated omission). The router also gets
``--feedback-rate`` feedbacks per second on decisions made before the window. The bare app gets
the same routes, alone. A route that has no answer after ``--timeout`` s counts as timed out.

The load generator is a minimal HTTP/1.1 client over asyncio streams (on uvloop when present):
httpx spends about a millisecond of CPU per request, which at 1,000 requests per second would
take half of a two-core machine from the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.http_throughput import start_bare
from tests.server import start_server

#: Connections per stream of requests: enough that the server, not the pool, is the queue.
CONNECTIONS = 256


@dataclass
class Window:
    latencies_ms: list[float] = field(default_factory=list)
    shed: int = 0
    errors: int = 0
    timed_out: int = 0

    def summary(self) -> str:
        values = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return (
            f"accepted {len(self.latencies_ms):6d}  p50 {np.percentile(values, 50):7.1f} ms  "
            f"p99 {np.percentile(values, 99):7.1f} ms  shed {self.shed:6d}  "
            f"timed out {self.timed_out:5d}  errors {self.errors}"
        )

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self.latencies_ms, 99)) if self.latencies_ms else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads answers."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> int:
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def raw_request(host: str, port: int, path: str, key: str, body: dict[str, object]) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def send_open_loop(
    host: str, port: int, requests: list[bytes], rate: float, timeout: float
) -> Window:
    """Send ``requests`` at ``rate`` per second, open loop; latency from each one's schedule."""
    window = Window()
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

    async def sender() -> None:
        connection = Connection(host, port)
        while (item := await queue.get()) is not None:
            scheduled, raw = item
            try:
                status = await asyncio.wait_for(connection.request(raw), timeout)
            except TimeoutError:
                window.timed_out += 1
                connection.close()  # its answer may still come: never read it as the next one's
                continue
            except (OSError, asyncio.IncompleteReadError, ValueError):
                window.errors += 1
                connection.close()
                continue
            if status == 503:
                window.shed += 1
            elif status < 300:
                window.latencies_ms.append((time.perf_counter() - scheduled) * 1000.0)
            else:
                window.errors += 1
        connection.close()

    senders = [asyncio.create_task(sender()) for _ in range(CONNECTIONS)]
    start = time.perf_counter() + 0.05
    for i, raw in enumerate(requests):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, raw))
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    return window


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def make_decisions(host: str, port: int, key: str, count: int) -> list[str]:
    """``count`` decisions to send feedback on, made before the measured window."""
    ids: list[str] = []
    reader, writer = await asyncio.open_connection(host, port)
    for i in range(count):
        writer.write(raw_request(host, port, "/v1/route", key, {"prompt": f"earlier question {i}"}))
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        ids.append(json.loads(await reader.readexactly(length))["decision_id"])
    writer.close()
    return ids


async def _measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
        bare, bare_url = start_bare(workdir)
        host, port_text = server.url.removeprefix("http://").rsplit(":", 1)
        port = int(port_text)
        bare_port = int(bare_url.rsplit(":", 1)[1])
        key = server.admin_key
        try:
            print(f"router RSS at start: {_rss_mb(server.process.pid):.0f} MB", flush=True)
            results: dict[float, list[tuple[Window, Window]]] = {}
            for rate in args.rates:
                for repeat in range(args.repeats):
                    count = int(rate * args.seconds)
                    routes = [
                        raw_request(host, port, "/v1/route", key, {"prompt": f"q {repeat} {i}"})
                        for i in range(count)
                    ]
                    feedback_count = int(args.feedback_rate * args.seconds)
                    ids = await make_decisions(host, port, key, feedback_count)
                    feedbacks = [
                        raw_request(
                            host, port, "/v1/feedback", key, {"decision_id": d, "score": 0.7}
                        )
                        for d in ids
                    ]
                    routed, fed = await asyncio.gather(
                        send_open_loop(host, port, routes, rate, args.timeout),
                        send_open_loop(host, port, feedbacks, args.feedback_rate, args.timeout)
                        if feedbacks
                        else asyncio.sleep(0, Window()),
                    )
                    bare_routes = [
                        raw_request(host, bare_port, "/v1/route", key, {"prompt": f"q {i}"})
                        for i in range(count)
                    ]
                    baseline = await send_open_loop(
                        host, bare_port, bare_routes, rate, args.timeout
                    )
                    results.setdefault(rate, []).append((routed, baseline))
                    print(f"{rate:.0f} routes/s, run {repeat + 1}:", flush=True)
                    print(f"  router routes   {routed.summary()}")
                    print(f"  router feedback {fed.summary()}")
                    print(f"  bare routes     {baseline.summary()}")
                    print(f"  router RSS {_rss_mb(server.process.pid):.0f} MB", flush=True)
            print(f"\nmedians over {args.repeats} runs ({args.feedback_rate:.0f} feedbacks/s):")
            for rate, runs in results.items():
                router_p99 = statistics.median(r.p99_ms for r, _ in runs)
                bare_p99 = statistics.median(b.p99_ms for _, b in runs)
                shed = statistics.median(
                    r.shed / max(1, r.shed + len(r.latencies_ms)) for r, _ in runs
                )
                timed_out = statistics.median(r.timed_out for r, _ in runs)
                print(
                    f"  {rate:6.0f} routes/s: router p99 {router_p99:7.1f} ms, bare p99 "
                    f"{bare_p99:6.1f} ms ({router_p99 / bare_p99:5.1f}x); shed {shed:.0%}; "
                    f"timed out {timed_out:.0f}"
                )
            print(f"router RSS at the end: {_rss_mb(server.process.pid):.0f} MB")
        finally:
            bare.terminate()
            bare.wait(timeout=30)
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", type=lambda text: [float(r) for r in text.split(",")], default=[300.0, 1000.0]
    )
    parser.add_argument("--feedback-rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(_measure(args))
    except ImportError:
        asyncio.run(_measure(args))


if __name__ == "__main__":
    main()
