"""Local fake LLM providers: OpenAI's chat completions and Anthropic's Messages API, in the
shapes their API references document (``chat.completion``, ``chat.completion.chunk`` with
``data: [DONE]``; ``message`` and the ``message_start`` ... ``message_stop`` events).

What a call does is read from the model name the router sends (the endpoint's ``model``):
``ok``, ``answer=<text>``, ``fail-429-then-ok=<n>`` (429 with ``Retry-After: 0`` for the first
n calls of that exact name), ``fail-429-long`` (the first call: 429 with ``Retry-After:
3600``), ``fail-500``, ``refuse-400``, ``slow=<seconds>`` (waits before the response starts),
``dies`` (a stream that breaks off after two chunks). Anything after ``#`` is
a tag, so that tests can keep counters apart. Every request body is recorded.

Agents: ``agent=<name>`` answers a request that offers ``tools`` and ends with a user message
with a call of its first tool, and anything else (a tool's result) with ``[<name>] done``.
``echo-key`` answers 401 quoting the key it was sent.
``fail-after=<n>`` answers the first n calls of that exact name and fails (500) after.

Learning from a judge: ``graded=<name>`` answers ``[<name>] ...`` (one of ``HIDDEN_QUALITY``'s
models, whose quality depends on the task named in the prompt as ``task=<task>``), and
``judge`` grades such an answer 0-10 as a judge model would, from ``HIDDEN_QUALITY`` plus a
little noise fixed by the text (the grade the router reads from its reply).

``python -m tests.proxy_fake --port 9999`` serves it on its own (for the latency benchmark).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HIDDEN_QUALITY", "TASKS", "FakeProviders", "best_model", "fake_providers"]

TASKS = ("code", "math", "chat")
#: Each graded model's true quality (0-10) per task: each task has a different best model.
HIDDEN_QUALITY: dict[str, dict[str, int]] = {
    "alpha": {"code": 9, "math": 4, "chat": 5},
    "beta": {"code": 4, "math": 9, "chat": 5},
    "gamma": {"code": 5, "math": 4, "chat": 9},
}
_GRADED = re.compile(r"\[(\w+)\]")
_TASK = re.compile(r"task=(\w+)")


def _wants_tool(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or [{}]
    return bool(body.get("tools")) and messages[-1].get("role") == "user"


def _tool_call_completion(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A ``chat.completion`` whose message calls the request's first tool."""
    tool = body["tools"][0]["function"]["name"]
    turn = len(body.get("messages") or ())
    call = {
        "id": f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": tool, "arguments": json.dumps({"turn": turn})},
    }
    message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
    return _completion(model, message, "tool_calls", (_words(body), 8))


def _completion(
    model: str, message: dict[str, Any], finish_reason: str, usage: tuple[int, int]
) -> dict[str, Any]:
    """A ``chat.completion`` object as OpenAI's API reference shows it."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }


def best_model(task: str) -> str:
    return max(HIDDEN_QUALITY, key=lambda model: HIDDEN_QUALITY[model][task])


def _judge_reply(body: dict[str, Any]) -> str:
    """A judge's grade of the answer in the grading request: its model's hidden quality on
    the task, moved by -1, 0 or +1 by a hash of the text (a judge is not perfectly steady)."""
    question = str((body.get("messages") or [{}])[-1].get("content", ""))
    conversation, _, answer = question.partition("Answer:")
    graded, task = _GRADED.search(answer), _TASK.search(conversation)
    if graded is None or task is None or graded.group(1) not in HIDDEN_QUALITY:
        return "I cannot grade this."
    noise = int(hashlib.sha256(question.encode()).hexdigest(), 16) % 3 - 1
    grade = HIDDEN_QUALITY[graded.group(1)][task.group(1)] + noise
    return str(min(max(grade, 0), 10))


@dataclass(slots=True)
class FakeProviders:
    url: str = ""
    #: ``(path, headers, body)`` of every call, in arrival order.
    received: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    def bodies(self, model: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, _, body in self.received if body.get("model") == model]

    def headers(self, model: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for _, h, body in self.received if body.get("model") == model]


def _behaviour(model: str) -> tuple[str, str]:
    name, _, argument = model.partition("#")[0].partition("=")
    return name, argument


def _words(body: dict[str, Any]) -> int:
    count = 0
    for message in body.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            count += len(content.split())
    return max(count, 1)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *_: Any) -> None:  # quiet
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without NODELAY the body waits for the
        # client's delayed ACK (40 ms) on every keep-alive answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        state = self.server.state
        model = str(body.get("model", ""))
        with state.lock:
            state.received.append((self.path, dict(self.headers.items()), body))
            state.calls[model] += 1
            calls = state.calls[model]
        name, argument = _behaviour(model)
        if name == "fail-429-long" and calls == 1:
            # Asks for an hour's wait: the router honours Retry-After only up to its cap.
            return self._json(
                429,
                {"error": {"message": "Slow down", "type": "requests"}},
                {"retry-after": "3600"},
            )
        if name == "fail-429-then-ok" and calls <= int(argument or 1):
            return self._json(
                429,
                {
                    "error": {
                        "message": "Rate limit reached",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
                {"retry-after": "0"},
            )
        if name == "echo-key":
            # A provider that quotes the credentials it got back in its error (some do).
            shown = self.headers.get("authorization") or self.headers.get("x-api-key") or ""
            return self._json(
                401,
                {"error": {"message": f"Incorrect API key provided: {shown}.", "type": "auth"}},
            )
        if name == "fail-500" or (name == "fail-after" and calls > int(argument or 0)):
            return self._json(
                500,
                {
                    "error": {
                        "message": "The server had an error",
                        "type": "server_error",
                        "code": None,
                    }
                },
            )
        if name == "refuse-400":
            return self._json(
                400,
                {
                    "error": {
                        "message": "Invalid parameter: bogus",
                        "type": "invalid_request_error",
                        "code": None,
                    }
                },
            )
        if name == "slow":
            time.sleep(float(argument or 5))
        text = argument if name == "answer" else f"Answer from {model}."
        if name == "agent" and _wants_tool(body):
            return self._json(200, _tool_call_completion(body, model))
        if name == "agent":
            text = f"[{argument}] done"
        if name == "graded":
            text = f"[{argument}] Here is my answer."
        elif name == "judge":
            text = _judge_reply(body)
        anthropic = self.path.rstrip("/").endswith("/messages")
        if body.get("stream"):
            return self._stream(body, model, text, anthropic=anthropic, dies=name == "dies")
        if name == "dies":
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        usage = (_words(body), len(text.split()))
        if anthropic:
            return self._json(
                200,
                {
                    "id": f"msg_{uuid.uuid4().hex[:12]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": text}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
                },
            )
        message = {"role": "assistant", "content": text, "refusal": None}
        return self._json(200, _completion(model, message, "stop", usage))

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(
        self, body: dict[str, Any], model: str, text: str, *, anthropic: bool, dies: bool
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        pieces = [w + " " for w in text.split()]
        events = (
            _anthropic_events(body, model, pieces)
            if anthropic
            else _openai_events(body, model, pieces)
        )
        for index, event in enumerate(events):
            if dies and index == 2:
                # Gone without the terminating chunk: the connection just drops.
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._chunk(event)
        self._chunk(b"")


def _openai_events(body: dict[str, Any], model: str, pieces: list[str]) -> Iterator[bytes]:
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
    include_usage = (body.get("stream_options") or {}).get("include_usage") is True

    def event(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            chunk["usage"] = usage
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    yield event(
        [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            }
        ]
    )
    for piece in pieces:
        yield event(
            [{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}]
        )
    yield event([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}])
    if include_usage:
        usage = {
            "prompt_tokens": _words(body),
            "completion_tokens": len(pieces),
            "total_tokens": _words(body) + len(pieces),
        }
        yield event([], usage)
    yield b"data: [DONE]\n\n"


def _anthropic_events(body: dict[str, Any], model: str, pieces: list[str]) -> Iterator[bytes]:
    def event(name: str, payload: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()

    yield event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": _words(body), "output_tokens": 1},
            },
        },
    )
    yield event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    yield event("ping", {"type": "ping"})
    for piece in pieces:
        yield event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
    yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": len(pieces)},
        },
    )
    yield event("message_stop", {"type": "message_stop"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: FakeProviders) -> None:
        super().__init__(address, _Handler)
        self.state = state


@contextmanager
def fake_providers(port: int = 0) -> Iterator[FakeProviders]:
    state = FakeProviders()
    server = _Server(("127.0.0.1", port), state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    with fake_providers(port) as state:
        print(f"fake providers on {state.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
