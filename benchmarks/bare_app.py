"""The bare baseline for benchmarks/http_throughput.py: Litestar on uvicorn, one worker, that
decodes the same route and feedback bodies strictly and answers a fixed JSON, and nothing else.

    python benchmarks/bare_app.py PORT_FILE
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn
from litestar import Litestar, post
from litestar.params import JSONBody

from api.http.schemas import FeedbackIn, RouteIn


@post("/v1/route", status_code=200)
async def route(data: JSONBody[RouteIn]) -> dict[str, object]:
    return {"decision_id": "d", "model": "m", "probability": 1.0, "policy": data.policy}


@post("/v1/feedback", status_code=201)
async def feedback(data: JSONBody[FeedbackIn]) -> dict[str, object]:
    return {"feedback_id": "f", "decision_id": data.decision_id}


@post("/health", status_code=200)
async def health() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    # IPPROTO_TCP named, as ``serve`` does: asyncio sets TCP_NODELAY only on sockets whose
    # protocol says TCP; without it every keep-alive response waited 40 ms for a delayed ACK.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    Path(sys.argv[1]).write_text(str(listener.getsockname()[1]))
    app = Litestar(route_handlers=[route, feedback, health])
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])


if __name__ == "__main__":
    main()
