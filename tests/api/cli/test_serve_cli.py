"""``bandit-router serve`` start-up: the port it listens on, and a port that is taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.parametrize("how", ["--port", "PORT"])
def test_a_taken_port_is_a_one_line_error(tmp_path: Path, how: str) -> None:
    """The port comes from ``--port`` or, without it, from ``$PORT`` (as ``make run`` and
    hosting platforms set it)."""
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
                *(["--port", str(port)] if how == "--port" else []),
                "--database-url",
                f"sqlite:///{tmp_path / 'router.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PORT": str(port) if how == "PORT" else "not a port"},
        )
    assert completed.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_port_variable_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--database-url", f"sqlite:///{tmp_path}/r.db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PORT": "eighty"},
    )
    assert completed.returncode == 1
    assert (
        completed.stderr.strip()
        == "bandit-router serve: $PORT must be a port number, got 'eighty'."
    )


def _serve(database: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            "0",
            "--database-url",
            f"sqlite:///{database}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_server_on_a_sqlite_file_in_use_refuses_to_start(tmp_path: Path) -> None:
    database = tmp_path / "router.db"
    first = start_server(f"sqlite:///{database}", tmp_path)
    try:
        refused = _serve(database)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"bandit-router serve: another bandit-router server is using the SQLite file "
            f"{database.resolve()}; SQLite serves from one process (use PostgreSQL to run "
            "several)"
        )
        assert httpx.get(f"{first.url}/health", timeout=5).status_code == 200
    finally:
        # Killed with -9, the first server leaves no lock behind: the next one starts.
        first.kill()
    second = start_server(f"sqlite:///{database}", tmp_path)
    second.stop()
