"""The caller's features on an OpenAI request, read without a server (the server-backed
cases are in test_proxy.py)."""

from __future__ import annotations

import doctest

import pytest

from api.proxy import caller
from api.proxy.caller import caller_request
from bandit.errors import InvalidInputError


def test_no_features_leave_the_body_as_sent() -> None:
    body = {"model": "router/p", "messages": [], "temperature": 0.2}
    read = caller_request(body, None, None)
    assert read.features is None
    assert read.body is body


def test_the_header_wins_over_metadata_and_metadata_is_kept_only_when_asked() -> None:
    body = {"metadata": {"task": "code", "tier": "low"}, "model": "m"}
    read = caller_request(body, '{"tier": 3, "beta": true}', None)
    assert dict(read.features or {}) == {"task": "code", "tier": 3.0, "beta": True}
    assert read.body == {"model": "m"}
    assert caller_request(body, None, "true").body == body
    assert caller_request(body, None, "false").body == {"model": "m"}


@pytest.mark.parametrize(
    ("body", "header", "fragment"),
    [
        ({}, "not json", "is not JSON"),
        ({}, '{"n": Infinity}', "is not JSON"),
        ({}, "42", "got a number"),
        ({"metadata": ["a"]}, None, "metadata must be an object of strings, got a list"),
        ({"metadata": {"a": {"b": 1}}}, None, "Caller feature 'a' (from metadata)"),
        ({"metadata": {"a": 1}}, '{"b": [1]}', "from metadata and the x-bandit-router-features"),
        ({}, "{" + ", ".join(f'"k{i}": 1' for i in range(65)) + "}", "length <= 64"),
    ],
)
def test_bad_features_are_refused_naming_their_source(
    body: dict[str, object], header: str | None, fragment: str
) -> None:
    with pytest.raises(InvalidInputError, match=None) as refused:
        caller_request(body, header, None)
    assert fragment in str(refused.value)


def test_doctests() -> None:
    failed, attempted = doctest.testmod(caller)
    assert attempted > 0
    assert failed == 0
