"""The CLI reaches services through the typed client: every failure is one sentence on
stderr and exit 1, and a busy service gets exactly one more try."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from api.cli import main
from api.cli.service import RETRY

#: What the fake answers: called with the number of the request (1-based) and the handler.
Answer = Callable[[int, BaseHTTPRequestHandler], None]


class _Fake(HTTPServer):
    answer: Answer
    requests: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Fake

    def do_GET(self) -> None:
        self.server.requests += 1
        self.server.answer(self.server.requests, self)

    def log_message(self, *_: object) -> None:
        pass


def _send(handler: BaseHTTPRequestHandler, status: int, kind: str, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("content-type", kind)
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _bad_gateway(_: int, handler: BaseHTTPRequestHandler) -> None:
    """A proxy in front of a dead service: 502 with an HTML page."""
    _send(handler, 502, "text/html", b"<html>Bad Gateway</html>")


def _shed_once(number: int, handler: BaseHTTPRequestHandler) -> None:
    """The load shedder's 503 once, then the service's answer."""
    if number == 1:
        _send(handler, 503, "application/json", b'{"detail": "Busy: try again shortly."}')
    else:
        _send(handler, 200, "application/json", b"[]")


def _login_page(_: int, handler: BaseHTTPRequestHandler) -> None:
    """Something that is not the router answering 200 (a proxy's login page)."""
    _send(handler, 200, "text/html", b"<html>Sign in</html>")


def _asks_to_wait(_: int, handler: BaseHTTPRequestHandler) -> None:
    """Over the key's rate, with a wait longer than an operator should sit through."""
    handler.send_response(429)
    handler.send_header("content-type", "application/json")
    handler.send_header("retry-after", "60")
    body = b'{"detail": "API key \'ci\' is over its rate of 1 per second."}'
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _cut_export(_: int, handler: BaseHTTPRequestHandler) -> None:
    """An export whose connection drops after its first line."""
    handler.send_response(200)
    handler.send_header("content-type", "application/x-ndjson")
    handler.send_header("content-length", "100000")
    handler.end_headers()
    handler.wfile.write(b'{"id": "d1"}\n')
    handler.wfile.flush()
    handler.close_connection = True


@pytest.fixture
def fake() -> Iterator[Callable[[Answer], _Fake]]:
    servers: list[_Fake] = []

    def start(answer: Answer) -> _Fake:
        server = _Fake(("127.0.0.1", 0), _Handler)
        server.answer = answer
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _url(server: _Fake) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_a_non_json_error_page_becomes_a_sentence_after_one_retry(
    fake: Callable[[Answer], _Fake], capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake(_bad_gateway)
    assert main(["models", "list", "--url", _url(server)]) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "bandit-router models list: The service answered 502 Bad Gateway.\n")
    assert server.requests == RETRY.attempts == 2


def test_a_load_shed_503_is_tried_once_more(
    fake: Callable[[Answer], _Fake], capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake(_shed_once)
    assert main(["models", "list", "--url", _url(server)]) == 0
    assert capsys.readouterr().out == "no models\n"
    assert server.requests == 2


def test_an_unreachable_service_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policies", "list", "--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "bandit-router policies list: No answer from the router at http://127.0.0.1:9: "
    )
    assert "Traceback" not in err


def test_an_export_cut_short_is_a_sentence_and_leaves_no_file(
    fake: Callable[[Answer], _Fake], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake(_cut_export)
    target = tmp_path / "out.jsonl"
    argv = ["export", "p", "--format", "jsonl", "--output", str(target), "--url", _url(server)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("bandit-router export: The answer from ")
    assert "stopped before its end" in err
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial


def test_an_answer_that_is_not_the_routers_is_a_sentence(
    fake: Callable[[Answer], _Fake], capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake(_login_page)
    assert main(["policies", "list", "--url", _url(server)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bandit-router policies list: The answer to GET /v1/policies is not")
    assert "Traceback" not in err


def test_a_long_retry_after_is_reported_at_once(
    fake: Callable[[Answer], _Fake], capsys: pytest.CaptureFixture[str]
) -> None:
    server = fake(_asks_to_wait)
    started = time.monotonic()
    assert main(["models", "list", "--url", _url(server)]) == 1
    assert time.monotonic() - started < 5  # not the minute the service asked for
    assert capsys.readouterr().err == (
        "bandit-router models list: API key 'ci' is over its rate of 1 per second.\n"
    )
    assert server.requests == 1
