"""Anthropic's Messages API behind OpenAI's shapes: requests, answers and stream events.

OpenAI parameters with an Anthropic counterpart are translated (system messages, tools and
tool calls, ``max_tokens``/``max_completion_tokens``, ``stop``, ``temperature``, ``top_p``,
``tool_choice``, ``user``); OpenAI-only parameters Anthropic would refuse (``n``,
``frequency_penalty``, ``presence_penalty``, ``logprobs``, ``seed``, ``response_format``, ...)
are left out; any other parameter (``top_k``, ``metadata``, ``thinking``, ...) is passed on.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx

from api.proxy.provider import Completion, ProviderCall, ProviderError, Reply, Usage
from api.proxy.sse import events, parse
from api.proxy.transport import open_post, read_json

__all__ = ["AnthropicProvider", "completion_from_message", "messages_request"]

API_VERSION = "2023-06-01"
#: Anthropic requires ``max_tokens``; this is sent when the client gave none.
DEFAULT_MAX_TOKENS = 4096

_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "tools",
        "tool_choice",
        "user",
        "temperature",
        "top_p",
    }
)
_OPENAI_ONLY = frozenset(
    {
        "n",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "seed",
        "response_format",
        "parallel_tool_calls",
        "store",
        "service_tier",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "functions",
        "function_call",
        "web_search_options",
    }
)


class AnthropicProvider:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, call: ProviderCall) -> Reply:
        try:
            body = messages_request(call.body, call.endpoint.model, stream=call.stream)
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise ProviderError(
                f"The request cannot be translated for Anthropic's Messages API: {error!r}.",
                kind="refused",
                status=400,
            ) from error
        headers = {"anthropic-version": API_VERSION}
        if call.api_key is not None:
            headers["x-api-key"] = call.api_key
        url = call.endpoint.base_url.rstrip("/") + "/v1/messages"
        response = await open_post(self._client, url, headers, body)
        if not call.stream:
            message = await read_json(response)
            if message.get("type") == "error":
                raise ProviderError(
                    f"The provider answered with an error: {message.get('error')}", kind="retry"
                )
            completion = completion_from_message(message)
            return Completion(completion, _usage(message.get("usage")))
        return _AnthropicStream(response)


def messages_request(body: Mapping[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    """An OpenAI chat request as a Messages API request.

    >>> messages_request(
    ...     {"messages": [{"role": "system", "content": "Be brief."},
    ...                   {"role": "user", "content": "Hi"}], "top_k": 5},
    ...     "claude-x", stream=False,
    ... ) == {"model": "claude-x", "max_tokens": 4096, "stream": False, "system": "Be brief.",
    ...       "messages": [{"role": "user", "content": "Hi"}], "top_k": 5}
    True
    """
    out: dict[str, Any] = {
        "model": model,
        "max_tokens": body.get("max_completion_tokens")
        or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
        "stream": stream,
    }
    system, messages = _conversation(body.get("messages") or ())
    if system:
        out["system"] = system
    out["messages"] = messages
    if "temperature" in body:
        # OpenAI's range is 0..2, Anthropic's 0..1.
        out["temperature"] = min(1.0, float(body["temperature"]))
    if "top_p" in body:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    out.update(_tools(body))
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    for name, value in body.items():
        if name not in _TRANSLATED and name not in _OPENAI_ONLY:
            out[name] = value
    return out


def _conversation(messages: Iterable[Any]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI's messages as Anthropic's system text and alternating messages: tool results
    are user turns, tool calls are ``tool_use`` blocks of the assistant's turn."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": _text(message.get("content")),
            }
            _append(turns, "user", [block])
        elif role == "assistant":
            blocks = _blocks(message.get("content"))
            blocks += [_tool_use(call) for call in message.get("tool_calls") or ()]
            _append(turns, "assistant", blocks)
        else:
            _append(turns, "user", _blocks(message.get("content")))
    return "\n\n".join(system), [_simplified(m) for m in turns]


def _tool_use(tool_call: Mapping[str, Any]) -> dict[str, Any]:
    function = tool_call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    return {
        "type": "tool_use",
        "id": tool_call.get("id", ""),
        "name": function.get("name", ""),
        "input": arguments,
    }


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request's tools and tool choice, in Anthropic's shape (absent when not sent)."""
    out: dict[str, Any] = {}
    if body.get("tools"):
        out["tools"] = [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description", ""),
                "input_schema": tool["function"].get("parameters")
                or {"type": "object", "properties": {}},
            }
            for tool in body["tools"]
            if isinstance(tool, dict) and isinstance(tool.get("function"), dict)
        ]
    choice = body.get("tool_choice")
    if choice == "required":
        out["tool_choice"] = {"type": "any"}
    elif choice in ("auto", "none"):
        out["tool_choice"] = {"type": choice}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        out["tool_choice"] = {"type": "tool", "name": choice["function"].get("name", "")}
    return out


def _block_start(event: Mapping[str, Any], tools: dict[int, int]) -> dict[str, Any] | None:
    """The OpenAI delta that starts content block ``event`` (a tool call gets the next tool
    call index, noted in ``tools``); None for a block that starts empty."""
    block = event.get("content_block") or {}
    if block.get("type") == "tool_use":
        index = tools[event.get("index", 0)] = len(tools)
        function = {"name": block.get("name", ""), "arguments": ""}
        call = {"index": index, "id": block.get("id", ""), "type": "function"}
        return {"tool_calls": [{**call, "function": function}]}
    if block.get("text"):
        return {"content": block["text"]}
    return None


def _block_delta(event: Mapping[str, Any], tools: dict[int, int]) -> dict[str, Any] | None:
    """The OpenAI delta of a content block's text or of a tool call's arguments."""
    delta = event.get("delta") or {}
    if delta.get("type") == "text_delta":
        return {"content": delta.get("text", "")}
    if delta.get("type") == "input_json_delta":
        index = tools.get(event.get("index", 0), 0)
        function = {"arguments": delta.get("partial_json", "")}
        return {"tool_calls": [{"index": index, "function": function}]}
    return None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else ():
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                source = {"type": "base64", "media_type": media, "data": data}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
    return blocks


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Anthropic wants user and assistant turns to alternate: consecutive ones are merged.
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _simplified(message: dict[str, Any]) -> dict[str, Any]:
    blocks = message["content"]
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return {"role": message["role"], "content": blocks[0]["text"]}
    return message


def completion_from_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages API ``message`` as a ``chat.completion``.

    >>> completion_from_message({"id": "msg_1", "model": "claude-x", "stop_reason": "end_turn",
    ...     "content": [{"type": "text", "text": "Hi."}],
    ...     "usage": {"input_tokens": 3, "output_tokens": 2}})["choices"][0]["message"]
    {'role': 'assistant', 'content': 'Hi.'}
    """
    text = ""
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or ():
        if block.get("type") == "text":
            text += block.get("text", "")
        elif block.get("type") == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {
                        "name": block.get("name", ""),
                        "arguments": json.dumps(block.get("input") or {}),
                    },
                }
            )
    answer: dict[str, Any] = {"role": "assistant", "content": text or None}
    if tool_calls:
        answer["tool_calls"] = tool_calls
    usage = _usage(message.get("usage"))
    return {
        "id": message.get("id", ""),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": answer,
                "finish_reason": _STOP_REASONS.get(str(message.get("stop_reason")), "stop"),
                "logprobs": None,
            }
        ],
        "usage": _openai_usage(usage),
    }


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    inputs, outputs = usage.get("input_tokens"), usage.get("output_tokens")
    return Usage(
        input_tokens=inputs if isinstance(inputs, int) else None,
        output_tokens=outputs if isinstance(outputs, int) else None,
    )


def _openai_usage(usage: Usage) -> dict[str, int]:
    prompt, completion = usage.input_tokens or 0, usage.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _AnthropicStream:
    """Messages API stream events as ``chat.completion.chunk`` objects."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.usage = Usage()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        ident, model, created = "", "", int(time.time())
        tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        stopped = False

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            async for _, data in events(self._response):
                event = parse(data)
                kind = event.get("type")
                if kind == "error":
                    raise ProviderError(
                        f"The provider reported an error mid-stream: {event.get('error')}",
                        kind="retry",
                    )
                if kind == "message_start":
                    message = event.get("message") or {}
                    ident, model = message.get("id", ""), message.get("model", "")
                    self.usage = _usage(message.get("usage"))
                    yield chunk({"role": "assistant", "content": ""})
                elif kind == "content_block_start":
                    if (started := _block_start(event, tools)) is not None:
                        yield chunk(started)
                elif kind == "content_block_delta":
                    if (added := _block_delta(event, tools)) is not None:
                        yield chunk(added)
                elif kind == "message_delta":
                    outputs = (event.get("usage") or {}).get("output_tokens")
                    if isinstance(outputs, int):
                        self.usage.output_tokens = outputs
                    reason = (event.get("delta") or {}).get("stop_reason")
                    if reason:
                        yield chunk({}, _STOP_REASONS.get(str(reason), "stop"))
                elif kind == "message_stop":
                    stopped = True
                    usage = {**chunk({}), "choices": [], "usage": _openai_usage(self.usage)}
                    yield usage
                    return
            if not stopped:
                raise ProviderError(
                    "The provider's stream ended before message_stop.", kind="retry"
                )
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()
