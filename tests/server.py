"""Start the real ``bandit-router serve`` process on a free port, for HTTP tests.

The server binds port 0 itself and prints the port it got: picking a free port here and
passing it on would race with any other process (another test run) taking it first.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["RunningServer", "bearer_key", "start_server"]


def bearer_key(client: httpx.Client) -> str:
    """The API key a test client sends, for CLI calls (``--key``)."""
    return client.headers["authorization"].removeprefix("Bearer ")


_LISTENING = re.compile(rb"bandit-router listening on (http://\S+)")


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    #: The admin key the server was started with (``BANDIT_ROUTER_ADMIN_KEY``).
    admin_key: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as the environment's admin key."""
        return {"authorization": f"Bearer {self.admin_key}"}

    def client(self, *, timeout: float = 30) -> httpx.Client:
        """An HTTP client for this server that carries the admin key."""
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: a graceful shutdown (final snapshot)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(
    database_url: str, workdir: Path, *extra: str, env: dict[str, str] | None = None
) -> RunningServer:
    """Start ``serve`` with a fresh admin key in ``BANDIT_ROUTER_ADMIN_KEY`` (unless ``env``
    names one) and wait until ``/health`` answers."""
    # Never starting with "-": the CLI tests pass it as ``--key <key>``, and argparse would
    # read such a key as an option.
    admin_key = "test-" + secrets.token_urlsafe(24)
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "BANDIT_ROUTER_ADMIN_KEY": admin_key,
        # The fake providers listen on loopback (a test that checks the egress rule says
        # "false" in ``env``).
        "BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS": "true",
        **(env or {}),
    }
    log_path = workdir / f"server-{uuid.uuid4().hex[:8]}.log"
    command = [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--port",
        "0",
        "--database-url",
        database_url,
        *extra,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=environment,
        )
    server = RunningServer(process, "", log_path, environment["BANDIT_ROUTER_ADMIN_KEY"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        if not server.url:
            found = _LISTENING.search(log_path.read_bytes())
            if found is None:
                time.sleep(0.05)
                continue
            server.url = found.group(1).decode()
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")
