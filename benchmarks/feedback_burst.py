"""Does a burst of feedback move route latency? Learning in a child process against on the loop.

    PYTHONPATH=. .venv/bin/python benchmarks/feedback_burst.py [--rate 100] \\
        [--feedback-rate 200] [--seconds 10] [--repeats 3]

For each mode (``BANDIT_ROUTER_LEARN_IN_CHILD=1``, the default, and ``=0``) it starts the real
server (``bandit-router serve --port 0`` on a fresh SQLite file) and routes ``--rate`` requests
per second, open loop (latency from each route's scheduled time, with the minimal client of
``benchmarks/open_loop.py``), in two windows:

- idle: routes alone;
- burst: routes while ``--feedback-rate`` feedbacks per second arrive for decisions made
  before the window (the default policy's reward window is 0 s: each feedback is joined at
  once and learned within the next round).

Prints p50/p99 per window, the ratio burst/idle per repetition, and the medians over
repetitions; both modes run in the same invocation, so the machine's noise touches both.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.open_loop import Window, make_decisions, raw_request, send_open_loop
from tests.server import start_server


async def _windows(learn_in_child: bool, args: argparse.Namespace, index: int) -> list[Window]:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        server = start_server(
            f"sqlite:///{workdir / 'burst.db'}",
            workdir,
            env={"BANDIT_ROUTER_LEARN_IN_CHILD": "1" if learn_in_child else "0"},
        )
        host, port_text = server.url.removeprefix("http://").rsplit(":", 1)
        port, key = int(port_text), server.admin_key
        try:
            count = int(args.rate * args.seconds)
            ids = await make_decisions(host, port, key, int(args.feedback_rate * args.seconds))
            feedbacks = [
                raw_request(host, port, "/v1/feedback", key, {"decision_id": d, "score": 0.7})
                for d in ids
            ]

            def routes(window: str) -> list[bytes]:
                return [
                    raw_request(host, port, "/v1/route", key, {"prompt": f"{window} {index} {i}"})
                    for i in range(count)
                ]

            idle = await send_open_loop(host, port, routes("idle"), args.rate, timeout=10)
            burst, _ = await asyncio.gather(
                send_open_loop(host, port, routes("burst"), args.rate, timeout=10),
                send_open_loop(host, port, feedbacks, args.feedback_rate, timeout=10),
            )
            return [idle, burst]
        finally:
            server.stop()


async def _main(args: argparse.Namespace) -> None:
    ratios: dict[str, list[float]] = {"child": [], "loop": []}
    p99s: dict[str, list[float]] = {"child": [], "loop": []}
    for index in range(args.repeats):
        for mode in ("child", "loop"):
            idle, burst = await _windows(mode == "child", args, index)
            print(f"repetition {index + 1}, learning in the {mode}:", flush=True)
            print(f"  idle  {idle.summary()}")
            print(f"  burst {burst.summary()}", flush=True)
            ratios[mode].append(burst.p99_ms / idle.p99_ms)
            p99s[mode].append(burst.p99_ms)
    print(
        f"\nmedians over {args.repeats} repetitions at {args.rate:.0f} routes/s with "
        f"{args.feedback_rate:.0f} feedbacks/s:"
    )
    for mode in ("child", "loop"):
        print(
            f"  learning in the {mode:5}: burst p99 {statistics.median(p99s[mode]):6.1f} ms, "
            f"burst/idle p99 {statistics.median(ratios[mode]):4.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="routes per second")
    parser.add_argument("--feedback-rate", type=float, default=200.0, help="feedbacks per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(_main(args))
    except ImportError:
        asyncio.run(_main(args))


if __name__ == "__main__":
    main()
