"""The caller's own features on an OpenAI request: what ``features`` is to ``POST /v1/route``.

Two ways, which may be combined (the header wins on a name both give):

- the ``x-bandit-router-features`` header, a JSON object exactly like the route API's
  ``features`` (strings are categories, numbers numeric, booleans flags);
- OpenAI's ``metadata`` parameter (string values: categories), which SDKs and gateways already
  let an application set per request.

Both are checked as the route API checks ``features`` (at most 64, each name and value
validated when the context is built), and a refusal is a 422 naming the source. ``metadata`` is
taken out of the request the provider gets, since it describes the caller to the router, unless
the caller sends ``x-bandit-router-forward-metadata: true``.

>>> request = caller_request({"metadata": {"task": "code"}, "model": "m"}, '{"tier": 2}', None)
>>> dict(request.features or {}), request.body
({'task': 'code', 'tier': 2.0}, {'model': 'm'})
>>> caller_request({}, "[1]", None)
Traceback (most recent call last):
...
bandit.errors.InvalidInputError: The x-bandit-router-features header must be a JSON object of \
features, got a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from api.http.schemas.common import Features, FeatureValue
from bandit.errors import InvalidInputError

__all__ = [
    "FEATURES_HEADER",
    "FORWARD_METADATA_HEADER",
    "CallerRequest",
    "caller_request",
]

FEATURES_HEADER = "x-bandit-router-features"
FORWARD_METADATA_HEADER = "x-bandit-router-forward-metadata"


@dataclass(frozen=True, slots=True)
class CallerRequest:
    """The caller's features (None when it sent none) and the body the provider gets."""

    features: Mapping[str, FeatureValue] | None
    body: dict[str, Any]


def caller_request(
    body: dict[str, Any], header: str | None, forward_metadata: str | None
) -> CallerRequest:
    """``body``'s caller features (``metadata`` and the features header), checked."""
    forward = _flag(forward_metadata)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidInputError(f"metadata must be an object of strings, got {_kind(metadata)}.")
    from_header = _header_features(header)
    if metadata is None and from_header is None:
        return CallerRequest(None, body)
    source = " and ".join(
        name
        for name, given in (("metadata", metadata), (f"the {FEATURES_HEADER} header", header))
        if given is not None
    )
    merged = {**(metadata or {}), **(from_header or {})}
    for name, value in merged.items():
        try:
            msgspec.convert(value, FeatureValue)
        except msgspec.ValidationError:
            raise InvalidInputError(
                f"Caller feature {name!r} (from {source}) must be a string, number or boolean, "
                f"got {_kind(value)}."
            ) from None
    try:
        features = msgspec.convert(merged, Features)
    except msgspec.ValidationError as error:
        raise InvalidInputError(
            f"The caller features from {source} are invalid: {error}."
        ) from None
    sent = body if forward else {k: v for k, v in body.items() if k != "metadata"}
    return CallerRequest(features, sent)


def _header_features(header: str | None) -> dict[str, Any] | None:
    if header is None:
        return None
    try:
        # Strict JSON, as a request body is read: no NaN or Infinity.
        parsed = msgspec.json.decode(header)
    except msgspec.DecodeError as error:
        raise InvalidInputError(
            f"The {FEATURES_HEADER} header must be a JSON object of features; it is not JSON "
            f"({error})."
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidInputError(
            f"The {FEATURES_HEADER} header must be a JSON object of features, got {_kind(parsed)}."
        )
    return parsed


def _flag(value: str | None) -> bool:
    if value is None:
        return False
    if value.strip().lower() in ("true", "1", "yes"):
        return True
    if value.strip().lower() in ("false", "0", "no"):
        return False
    raise InvalidInputError(
        f"The {FORWARD_METADATA_HEADER} header must be true or false, got {value!r}."
    )


def _kind(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
