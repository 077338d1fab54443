"""``POST /v1/chat/completions``: OpenAI's chat completion answer."""

from __future__ import annotations

from msgspec import Struct

__all__ = [
    "ChatChoiceOut",
    "ChatCompletionOut",
    "ChatFunctionCallOut",
    "ChatMessageOut",
    "ChatToolCallOut",
    "ChatUsageOut",
]


class ChatFunctionCallOut(Struct):
    name: str
    #: The arguments as the model wrote them: a JSON text, not yet validated.
    arguments: str


class ChatToolCallOut(Struct):
    id: str
    type: str
    function: ChatFunctionCallOut


class ChatMessageOut(Struct):
    role: str
    content: str | None = None
    tool_calls: list[ChatToolCallOut] | None = None
    refusal: str | None = None


class ChatChoiceOut(Struct):
    index: int
    message: ChatMessageOut
    #: ``stop``, ``length``, ``tool_calls``, ``content_filter``.
    finish_reason: str | None = None


class ChatUsageOut(Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionOut(Struct):
    """A ``chat.completion`` (with ``"stream": true`` the answer is ``text/event-stream``:
    ``chat.completion.chunk`` events, then ``data: [DONE]``)."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChatChoiceOut]
    usage: ChatUsageOut | None = None
    system_fingerprint: str | None = None
