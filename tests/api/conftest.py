"""The real server process over HTTP, once per test module and backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_postgres_database
from tests.server import start_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    workdir: Path = tmp_path_factory.mktemp("server")
    with (
        fresh_postgres_database()
        if request.param == "postgresql"
        else _nullcontext(f"sqlite:///{workdir / 'router.db'}")
    ) as url:
        server = start_server(url, workdir)
        try:
            with server.client() as http:
                yield http
        finally:
            server.stop()


class _nullcontext:  # noqa: N801 - mirrors contextlib.nullcontext, typed for str
    def __init__(self, value: str) -> None:
        self.value = value

    def __enter__(self) -> str:
        return self.value

    def __exit__(self, *_: object) -> None:
        return None
