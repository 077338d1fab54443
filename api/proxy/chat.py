"""The client's OpenAI chat request: what the router reads from it, and answers re-shaped.

The body is kept as the client sent it (parameters the router does not know go on to the
provider); only ``model`` and ``messages`` are checked here, with a 422 naming the problem.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from api.http.schemas.common import FeatureValue
from api.proxy.caller import caller_request
from bandit.errors import InvalidInputError
from domain import ChatTurn

__all__ = [
    "MAX_SESSION_ID",
    "MODEL_PREFIX",
    "SESSION_HEADER",
    "AnswerAssembler",
    "ChatRequest",
    "answer_text",
    "canonical",
    "chat_request",
    "completion_chunks",
    "shown_answer",
    "transcript",
]

#: ``"model": "router/<policy>"`` names the policy that decides.
MODEL_PREFIX = "router/"
#: Keeps a conversation on the model its first turn was routed to.
SESSION_HEADER = "x-bandit-router-session"
#: The longest session id accepted.
MAX_SESSION_ID = 256
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    policy: str
    body: Mapping[str, Any]
    #: The text of every message, for the router's features (never sent anywhere).
    prompt: str
    stream: bool
    #: The client asked for a final usage chunk (``stream_options.include_usage``).
    include_usage: bool
    #: OpenAI's ``user``: the unit experiments assign by.
    user: str | None
    #: The caller's features (``metadata``, the features header); None when none were sent.
    features: Mapping[str, FeatureValue] | None = None
    #: The conversation with its roles.
    turns: tuple[ChatTurn, ...] = ()
    #: The caller's session (``x-bandit-router-session``): its turns stay on one model.
    session_id: str | None = None

    @property
    def continues_conversation(self) -> str | None:
        """The conversation through its last assistant turn (canonical text), when it has
        one: if the router answered that turn, this request goes to the same model."""
        last = max((i for i, t in enumerate(self.turns) if t.role == "assistant"), default=None)
        return None if last is None else canonical(self.turns[: last + 1])


def chat_request(
    body: Any,
    *,
    features_header: str | None = None,
    forward_metadata: str | None = None,
    session_header: str | None = None,
) -> ChatRequest:
    """Check ``model`` and ``messages``, and read the caller's features (``api.proxy.caller``);
    everything else is the provider's to judge.

    >>> chat_request({"model": "router/default", "messages": [{"role": "user",
    ...     "content": "Hi"}]}).policy
    'default'
    >>> chat_request({"model": "gpt-4o", "messages": []})
    Traceback (most recent call last):
    ...
    bandit.errors.InvalidInputError: model must name a policy as 'router/<policy>' \
(for example 'router/default'), got 'gpt-4o'.
    """
    if not isinstance(body, dict):
        raise InvalidInputError("The request body must be a JSON object (an OpenAI chat request).")
    model = body.get("model")
    if not isinstance(model, str) or not model.startswith(MODEL_PREFIX) or model == MODEL_PREFIX:
        raise InvalidInputError(
            f"model must name a policy as '{MODEL_PREFIX}<policy>' (for example "
            f"'{MODEL_PREFIX}default'), got {model!r}."
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInputError("messages must be a non-empty list of chat messages.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise InvalidInputError(
                f"messages[{index}] must be an object whose role is one of "
                f"{', '.join(sorted(_ROLES))}."
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidInputError(
                f"messages[{index}].content must be a string or a list of content parts."
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise InvalidInputError(f"stream must be true or false, got {stream!r}.")
    options = body.get("stream_options")
    user = body.get("user")
    caller = caller_request(body, features_header, forward_metadata)
    return ChatRequest(
        policy=model.removeprefix(MODEL_PREFIX),
        body=caller.body,
        prompt="\n".join(_texts(messages)),
        stream=bool(stream),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        user=user if isinstance(user, str) and user else None,
        features=caller.features,
        turns=tuple(ChatTurn(m["role"], _message_text(m)) for m in messages),
        session_id=_session_id(session_header),
    )


def _session_id(header: str | None) -> str | None:
    if header is None:
        return None
    if not 1 <= len(header) <= MAX_SESSION_ID or not header.isprintable():
        raise InvalidInputError(
            f"The {SESSION_HEADER} header must be 1-{MAX_SESSION_ID} printable characters, "
            f"got {len(header)} characters."
        )
    return header


def canonical(turns: tuple[ChatTurn, ...]) -> str:
    """A conversation as one text, roles included, to hash (the session's key)."""
    return json.dumps([[t.role, t.text] for t in turns], ensure_ascii=False, separators=(",", ":"))


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    parts = [content] if isinstance(content, str) else list(_part_texts(content))
    parts += [_tool_call_text(call) for call in message.get("tool_calls") or ()]
    return "\n".join(p for p in parts if p)


def _part_texts(content: Any) -> Iterator[str]:
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield part["text"]


def _tool_call_text(call: Any) -> str:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return "[tool call]"
    return f"[tool call] {function.get('name', '')}({function.get('arguments', '')})"


def transcript(turns: tuple[ChatTurn, ...]) -> str:
    """The conversation as text with its roles, as a judge reads it.

    >>> print(transcript((ChatTurn("system", "Be brief."), ChatTurn("user", "2+2?"))))
    system: Be brief.
    <BLANKLINE>
    user: 2+2?
    """
    return "\n\n".join(f"{turn.role}: {turn.text}" for turn in turns)


def shown_answer(completion: Mapping[str, Any]) -> str:
    """The first choice's text and tool calls, as a reviewer or a judge reads the answer.

    >>> shown_answer({"choices": [{"message": {"content": None, "tool_calls": [
    ...     {"function": {"name": "add", "arguments": "{}"}}]}}]})
    '[tool call] add({})'
    """
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    return _message_text(message) if isinstance(message, dict) else ""


class AnswerAssembler:
    """A streamed answer put back together from its ``chat.completion.chunk`` deltas (the
    first choice's text and tool calls), for reviewers and the judge."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, chunk: Mapping[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self._text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._add_call(call)

    def _add_call(self, call: Any) -> None:
        if not isinstance(call, dict):
            return
        slot = self._calls.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
        function = call.get("function") or {}
        for key in ("name", "arguments"):
            if isinstance(function.get(key), str):
                slot[key] += function[key]

    def text(self) -> str:
        calls = [{"function": call} for call in self._calls.values()]
        return _message_text({"content": "".join(self._text), "tool_calls": calls})


def _texts(messages: list[dict[str, Any]]) -> Iterator[str]:
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"]


def answer_text(completion: Mapping[str, Any]) -> str:
    """The first choice's text (empty for a tool call).

    >>> answer_text({"choices": [{"message": {"content": "42"}}]})
    '42'
    """
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {} if isinstance(choices[0], dict) else {}
    content = message.get("content")
    return content if isinstance(content, str) else ""


def completion_chunks(
    completion: Mapping[str, Any], *, include_usage: bool
) -> list[dict[str, Any]]:
    """A whole ``chat.completion`` as the ``chat.completion.chunk`` objects of a stream (a
    cascade's kept first answer, which was not streamed)."""
    base = {
        "id": completion.get("id", ""),
        "object": "chat.completion.chunk",
        "created": completion.get("created", int(time.time())),
        "model": completion.get("model", ""),
    }
    chunks: list[dict[str, Any]] = []
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        chunks.append(
            {**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
        )
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if include_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks
