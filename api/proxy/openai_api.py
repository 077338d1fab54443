"""OpenAI-compatible chat completions (OpenAI, Azure OpenAI, vLLM, Ollama, Together, Groq, ...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from api.proxy.provider import Completion, ProviderCall, ProviderError, Reply, Usage
from api.proxy.sse import events, parse
from api.proxy.transport import open_post, read_json

__all__ = ["OpenAIProvider", "usage_of"]


class OpenAIProvider:
    """Forwards the client's body as it is (unknown parameters included), with the endpoint's
    model name; streams always ask for usage, which the proxy needs for cost."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, call: ProviderCall) -> Reply:
        body = {**call.body, "model": call.endpoint.model, "stream": call.stream}
        if call.stream:
            options = body.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        headers = {"accept": "text/event-stream" if call.stream else "application/json"}
        if call.api_key is not None:
            headers["authorization"] = f"Bearer {call.api_key}"
        url = call.endpoint.base_url.rstrip("/") + "/chat/completions"
        response = await open_post(self._client, url, headers, body)
        if not call.stream:
            answer = await read_json(response)
            if "error" in answer and "choices" not in answer:
                raise ProviderError(
                    f"The provider answered with an error: {answer['error']}", kind="retry"
                )
            return Completion(answer, usage_of(answer))
        return _OpenAIStream(response)


def usage_of(body: dict[str, Any]) -> Usage:
    """OpenAI's ``usage`` (``prompt_tokens``, ``completion_tokens``) as a ``Usage``.

    >>> usage_of({"usage": {"prompt_tokens": 3, "completion_tokens": 5}})
    Usage(input_tokens=3, output_tokens=5)
    """
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return Usage()
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(
        input_tokens=prompt if isinstance(prompt, int) else None,
        output_tokens=completion if isinstance(completion, int) else None,
    )


class _OpenAIStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.usage = Usage()

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        finished = False
        try:
            async for _, data in events(self._response):
                if data.strip() == "[DONE]":
                    return
                chunk = parse(data)
                if "error" in chunk:
                    raise ProviderError(
                        f"The provider reported an error mid-stream: {chunk['error']}",
                        kind="retry",
                    )
                if chunk.get("usage"):
                    self.usage = usage_of(chunk)
                finished = finished or any(
                    isinstance(c, dict) and c.get("finish_reason")
                    for c in chunk.get("choices") or ()
                )
                yield chunk
            if not finished:
                raise ProviderError(
                    "The provider's stream ended before its last chunk.", kind="retry"
                )
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()
