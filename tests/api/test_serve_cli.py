"""``bandit-router serve`` start-up: the port it listens on, and a port that is taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server import start_server


def test_port_zero_listens_on_the_port_it_prints(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'router.db'}", tmp_path)
    try:
        port = int(server.url.rsplit(":", 1)[1])
        assert port != 0
        assert f"API docs: {server.url}/schema" in server.log()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
    finally:
        server.stop()


def test_a_taken_port_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "serve",
                "--port",
                str(port),
                "--database-url",
                f"sqlite:///{tmp_path / 'router.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "Traceback" not in completed.stderr
