"""Strict request input: the one place every endpoint's body is decoded, and URLs checked.

Litestar converts a body into its declared struct with ``strict=False`` (the same call also
converts path and query strings), so ``"score": "0.5"`` became 0.5 and
``"store_prompts": "true"`` became ``True``. ``StrictRequest`` decodes the body and converts it
into the handler's declared body type with ``strict=True`` before Litestar sees it; Litestar's
own conversion then receives the finished struct and passes it through unchanged.

The same step refuses, with a 4xx sentence, what no wire schema can hold but a decoder or a
database would choke on: nesting deeper than ``MAX_DEPTH`` (msgspec raised ``RecursionError``
at about 1,000 levels: a 500), NUL characters (PostgreSQL cannot store them in text or JSONB)
and lone surrogates (invalid JSON text that msgspec reports as "truncated").
``refuse_nul_in_url`` does the same for path and query parameters (``/v1/decisions/a%00b`` was
a 500 on PostgreSQL).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException

__all__ = ["MAX_DEPTH", "StrictRequest", "check_plain", "decode_strict", "refuse_nul_in_url"]

#: Deepest nesting of arrays and objects accepted; the deepest wire schema needs 4.
MAX_DEPTH = 32

_decoder = msgspec.json.Decoder()


class StrictRequest(Request[Any, Any, Any]):
    """A request whose ``json()`` is the strictly typed body of its route handler."""

    async def json(self) -> Any:
        field = self.route_handler.parsed_data_field
        return decode_strict(await self.body(), None if field is None else field.annotation)


async def refuse_nul_in_url(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: a NUL in the path or a query parameter is a 400."""
    values = [request.scope["path"], *request.query_params.values()]
    if any("\x00" in value for value in values):
        raise ClientException(
            "The request URL contains a NUL character (%00), which no path or query "
            "parameter accepts."
        )


def decode_strict(body: bytes, annotation: Any) -> Any:
    """Decode ``body``; convert it into ``annotation`` (when given) without coercion.

    Raises ``ClientException`` (400) for a body that is not acceptable JSON and
    ``ValidationException`` (422, naming the field) for a value of the wrong type or range.
    """
    try:
        value = _decoder.decode(body or b"null")
    except RecursionError as error:
        raise ClientException(
            f"The request body nests arrays or objects deeper than {MAX_DEPTH} levels."
        ) from error
    except msgspec.DecodeError as error:
        raise ClientException(
            f"The request body is not valid UTF-8 JSON ({error}); strings must not contain "
            "lone surrogates."
        ) from error
    check_plain(value)
    if annotation is None:
        return value
    try:
        return msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        key = where.rstrip("`").removeprefix("$").lstrip(".") or "body"
        raise ValidationException(
            detail=f"Invalid request body: {error}",
            extra=[{"key": key, "message": message, "source": "body"}],
        ) from error


def check_plain(value: Any) -> None:
    """Refuse NUL characters anywhere (keys included) and nesting deeper than ``MAX_DEPTH``.

    Iterative, so that checking a deep document cannot itself exhaust the stack.

    >>> check_plain({"a": [1, "x"]})
    >>> check_plain({"a": "x\\x00"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    litestar.exceptions.http_exceptions.ClientException: 400: ... a NUL character ...
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ClientException(
                    "The request body contains a NUL character (\\u0000), which no field accepts."
                )
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ClientException(
                    f"The request body nests arrays or objects deeper than {MAX_DEPTH} levels."
                )
            children = list(item.items()) if isinstance(item, dict) else item
            for child in children:
                if isinstance(child, tuple):
                    stack.append((child[0], depth + 1))
                    stack.append((child[1], depth + 1))
                else:
                    stack.append((child, depth + 1))
