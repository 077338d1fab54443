"""``bandit-router serve``: the HTTP service, in one process or ``--workers N``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from api.cli.options import Commands, add_command

if TYPE_CHECKING:
    from litestar import Litestar

    from api.settings import Settings
    from storage.server_lock import ServerLock

__all__ = ["add_parser", "run", "worker_app"]

ENV_PORT = "PORT"
DEFAULT_PORT = 8000

#: How ``serve --workers N`` hands its options to the worker processes it spawns.
_WORKER_OPTIONS = "BANDIT_ROUTER_WORKER_OPTIONS"


def add_parser(commands: Commands) -> None:
    serve = add_command(
        commands,
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service: routing, feedback, learning and the API docs at "
        "/schema. On SQLite one process serves; on PostgreSQL --workers N processes share the "
        "port, and any number of hosts may share the database.",
        examples=[
            "serve",
            "serve --port 8000 --database-url postgresql://router@db/router --workers 2",
        ],
        uses=["database"],
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port",
        type=int,
        help=f"default ${ENV_PORT}, else 8000; 0 lets the OS pick a free port (printed)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port (PostgreSQL only; default 1)",
    )
    serve.add_argument(
        "--snapshot-every",
        type=int,
        default=1000,
        metavar="N",
        help="persist the learner after N new interactions (default 1000)",
    )
    serve.add_argument(
        "--snapshot-seconds",
        type=float,
        default=30.0,
        metavar="T",
        help="... or after T seconds with anything new (default 30)",
    )
    serve.add_argument(
        "--no-bootstrap",
        action="store_true",
        help="do not create the example catalog and default policy",
    )
    serve.set_defaults(run=run)


def _port(given: int | None, environ: Mapping[str, str]) -> int:
    """``--port``, else ``$PORT`` (as platforms that assign the port set it), else 8000."""
    if given is not None:
        return given
    text = environ.get(ENV_PORT, "").strip()
    if not text:
        return DEFAULT_PORT
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"${ENV_PORT} must be a port number, got {text!r}.") from None


def _settings(options: dict[str, Any]) -> Settings:
    from api.settings import Settings

    return dataclasses.replace(
        Settings.from_environment(
            database_url=options["database_url"], host=options["host"], port=options["port"]
        ),
        snapshot_every=options["snapshot_every"],
        snapshot_seconds=options["snapshot_seconds"],
        bootstrap=options["bootstrap"],
        tune_gc=True,
    )


def worker_app() -> Litestar:
    """The app of one ``--workers`` process (uvicorn imports and calls it in each)."""
    from api.app import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(json.loads(os.environ[_WORKER_OPTIONS]))
    _access_log(settings)
    return create_app(settings)


class _RefusedError(Exception):
    """``serve`` cannot start; the message says why (printed, exit status 1)."""


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings, options = _serve_settings(args)
        lock = _lock(settings, args.workers)
        listener = _bind(settings)
    except _RefusedError as refused:
        print(f"bandit-router serve: {refused}", file=sys.stderr)
        return 1
    _announce(settings, listener)
    try:
        if args.workers == 1:
            _serve_one(settings, listener)
        else:
            _serve_workers(settings, options, args.workers, listener)
    finally:
        if lock is not None:
            lock.release()
    return 0


def _serve_settings(args: argparse.Namespace) -> tuple[Settings, dict[str, object]]:
    """The settings, and the options a worker process rebuilds them from."""
    try:
        port = _port(args.port, os.environ)
    except ValueError as error:
        raise _RefusedError(str(error)) from None
    options: dict[str, object] = {
        "database_url": args.database_url,
        "host": args.host,
        "port": port,
        "snapshot_every": args.snapshot_every,
        "snapshot_seconds": args.snapshot_seconds,
        "bootstrap": not args.no_bootstrap,
    }
    settings = _settings(options)
    _access_log(settings)
    if args.workers < 1:
        raise _RefusedError(f"--workers must be at least 1, got {args.workers}")
    options["database_url"] = settings.database_url
    return settings, options


def _lock(settings: Settings, workers: int) -> ServerLock | None:
    """The SQLite file's serving lock (None on PostgreSQL): one process serves a file."""
    from storage.server_lock import ServerLockedError, lock_for_serving

    try:
        lock = lock_for_serving(settings.database_url)
    except ServerLockedError as error:
        raise _RefusedError(str(error)) from None
    if lock is not None and workers > 1:
        lock.release()
        raise _RefusedError("--workers needs PostgreSQL; SQLite serves from one process")
    return lock


def _bind(settings: Settings) -> socket.socket:
    try:
        return _listen(settings.host, settings.port)
    except OSError as error:
        raise _RefusedError(f"cannot listen on {settings.host}:{settings.port}: {error}") from None


def _announce(settings: Settings, listener: socket.socket) -> None:
    from storage.engine import describe_location

    # The socket is bound before the app starts, so the port printed here (the one the OS
    # picked for --port 0) is already ours.
    address = f"http://{_url_host(settings.host)}:{listener.getsockname()[1]}"
    print(f"bandit-router listening on {address}", flush=True)
    print(f"data: {describe_location(settings.database_url)}", flush=True)
    print(f"API docs: {address}/schema", flush=True)


def _serve_one(settings: Settings, listener: socket.socket) -> None:
    import uvicorn

    from api.app import create_app

    app = create_app(settings)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[listener]
    )


def _serve_workers(
    settings: Settings, options: dict[str, object], workers: int, listener: socket.socket
) -> None:
    """Each worker is a whole server (it routes, learns, may hold the learner role); they
    share the database and, through the kernel, this socket."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[_WORKER_OPTIONS] = json.dumps(options)
    config = uvicorn.Config(
        "api.cli.serve:worker_app",
        factory=True,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[listener]).run()


def _access_log(settings: Settings) -> None:
    """The app's own access log replaces uvicorn's (off above): one JSON line per request on
    stdout, unless ``BANDIT_ROUTER_ACCESS_LOG=off``."""
    if settings.access_log:
        from api.http.request_log import log_access_to

        log_access_to(sys.stdout)


def _listen(host: str, port: int) -> socket.socket:
    family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, protocol)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError:
        listener.close()
        raise
    return listener


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
