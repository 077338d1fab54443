"""Anthropic's Messages API behind OpenAI's shapes: tools and tool results going out, tool
calls and stream events coming back (pure translation, no server)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from api.proxy.anthropic_api import AnthropicProvider, completion_from_message, messages_request
from api.proxy.provider import Completion, ProviderCall, ProviderError
from domain import ModelEndpoint

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_tools_tool_calls_and_tool_results_are_translated() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "Rain, 4 C."},
        ],
        "tools": [WEATHER],
        "tool_choice": "required",
        "stop": "END",
        "temperature": 1.5,
        "frequency_penalty": 0.5,
        "top_k": 3,
    }
    sent = messages_request(body, "claude-x", stream=True)
    assert sent["system"] == "Use tools."
    assert sent["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "Rain, 4 C."}],
        },
    ]
    assert sent["tools"] == [
        {
            "name": "weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["stop_sequences"] == ["END"]
    assert sent["temperature"] == 1.0
    assert sent["top_k"] == 3
    assert "frequency_penalty" not in sent
    assert (sent["stream"], sent["max_tokens"]) == (True, 4096)


def test_a_tool_use_answer_becomes_openai_tool_calls() -> None:
    completion = completion_from_message(
        {
            "id": "msg_1",
            "model": "claude-x",
            "stop_reason": "tool_use",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
            "usage": {"input_tokens": 20, "output_tokens": 9},
        }
    )
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_1"
    assert json.loads(call["function"]["arguments"]) == {"city": "Oslo"}
    assert completion["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}


def _sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


_START = {
    "type": "message_start",
    "message": {"id": "msg_2", "model": "claude-x", "usage": {"input_tokens": 7}},
}


def _provider(stream: bytes) -> AnthropicProvider:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-api-key"] == "k"
        return httpx.Response(200, content=stream, headers={"content-type": "text/event-stream"})

    return AnthropicProvider(httpx.AsyncClient(transport=httpx.MockTransport(answer)))


def _call() -> ProviderCall:
    endpoint = ModelEndpoint("anthropic", "https://anthropic.example", "claude-x", "K")
    return ProviderCall(endpoint, "k", {"messages": [{"role": "user", "content": "Hi"}]}, True)


async def test_stream_events_become_chunks_with_tool_call_deltas_and_usage() -> None:
    provider = _provider(
        _sse(
            _START,
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Let me check."},
            },
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_9", "name": "weather"},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": '},
            },
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 12},
            },
            {"type": "message_stop"},
        )
    )
    reply = await provider.send(_call())
    assert not isinstance(reply, Completion)
    chunks = [chunk async for chunk in reply]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"content": "Let me check."}
    assert deltas[2]["tool_calls"][0]["id"] == "toolu_9"
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:5])
    assert json.loads(arguments) == {"city": "Oslo"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 12, "total_tokens": 19}
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (7, 12)


async def test_a_stream_that_ends_without_message_stop_is_a_provider_error() -> None:
    provider = _provider(_sse(_START))
    reply = await provider.send(_call())
    assert not isinstance(reply, Completion)
    with pytest.raises(ProviderError, match="ended before message_stop"):
        [chunk async for chunk in reply]


async def test_an_untranslatable_request_is_refused_not_a_crash() -> None:
    provider = _provider(b"")
    call = _call()
    bad = ProviderCall(call.endpoint, "k", {"messages": [], "temperature": "hot"}, False)
    with pytest.raises(ProviderError) as raised:
        await provider.send(bad)
    assert (raised.value.kind, raised.value.status) == ("refused", 400)
