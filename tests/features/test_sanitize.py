import hashlib
import re

import pytest

from features.sanitize import safe_token, utf8

_HASHED = re.compile(r"~[0-9a-f]{16}")


@pytest.mark.parametrize("text", ["a", "Z", "0", "gpt-4o_mini.v2", "-._", "x" * 48])
def test_plain_short_tokens_pass_through(text: str) -> None:
    assert safe_token(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x" * 49,
        "two words",
        "a|b",
        "a:b",
        "a=b",
        "tab\there",
        "abc\n",  # a trailing newline must not slip through as with re.match(...$)
        "\x00",
        "caf\u00e9",
        "~abc",
        "\ud800",  # a lone surrogate, as JSON can carry one
    ],
)
def test_everything_else_is_hashed(text: str) -> None:
    assert _HASHED.fullmatch(safe_token(text))


def test_hash_is_blake2b_and_stable_across_processes() -> None:
    # A golden value: hash() would differ between processes, blake2b must not.
    assert safe_token("two words") == "~b0ce94d70c1661cc"
    assert safe_token("two words") == "~" + hashlib.blake2b(b"two words", digest_size=8).hexdigest()


def test_distinct_inputs_get_distinct_tokens() -> None:
    texts = ["a b", "a  b", "a\tb", "A b", "", " ", "x" * 49, "x" * 50]
    assert len({safe_token(text) for text in texts}) == len(texts)


def test_utf8_passes_lone_surrogates() -> None:
    assert utf8("a\ud800") == b"a\xed\xa0\x80"
    assert utf8("\u00e9") == "\u00e9".encode()
