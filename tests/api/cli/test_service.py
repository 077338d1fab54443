"""The CLI's HTTP client turns every failure into one sentence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from api.cli.service import ServiceError, fetch_json


class _Proxy(BaseHTTPRequestHandler):
    """Answers like a proxy in front of a dead service: 502 with an HTML page."""

    def do_GET(self) -> None:
        self.send_response(502)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>Bad Gateway</html>")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_non_json_error_page_becomes_a_sentence(proxy: str) -> None:
    with pytest.raises(ServiceError, match="answered 502 Bad Gateway"):
        fetch_json(proxy, "/v1/policies")


def test_an_unreachable_service_is_named() -> None:
    with pytest.raises(ServiceError, match=r"cannot reach http://127\.0\.0\.1:9"):
        fetch_json("http://127.0.0.1:9", "/health", timeout=5)
