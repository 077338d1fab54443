import hashlib
import random
import re

import pytest

from features.errors import FeatureError
from features.words import MAX_WORDS, word_feature, words_namespace

_KEY = b"test installation key"


def _names(prompt: str, key: bytes = _KEY) -> list[str]:
    namespace = words_namespace(prompt, key)
    assert namespace is not None
    assert all(value == 1.0 for _, value in namespace.features)
    return [name for name, _ in namespace.features]


def _bag(*words: str) -> list[str]:
    return sorted(word_feature(word, _KEY) for word in words)


def test_words_are_lower_cased_and_deduplicated() -> None:
    assert _names("Hello hello HELLO, world! World") == _bag("hello", "world")


def test_the_bag_does_not_reveal_word_order() -> None:
    assert _names("alice emails bob") == _names("bob emails alice")
    names = _names("zebra apple mango")
    assert names == sorted(names)


def test_unicode_words_count() -> None:
    assert _names("na\u00efve caf\u00e9 \u041f\u0440\u0438\u0432\u0435\u0442") == _bag(
        "na\u00efve", "caf\u00e9", "\u043f\u0440\u0438\u0432\u0435\u0442"
    )


def test_at_most_max_words_from_the_start() -> None:
    rng = random.Random(20240501)
    words = [f"w{index}x{rng.randrange(10**6)}" for index in range(4 * MAX_WORDS)]
    assert _names(" ".join(words)) == _bag(*words[:MAX_WORDS])


def test_names_are_short_hex_and_hide_the_text() -> None:
    names = _names("secret password hunter2")
    assert all(re.fullmatch(r"[0-9a-f]{8}", name) for name in names)
    assert not any(word in name for name in names for word in ("secret", "password", "hunter2"))


def test_the_same_word_under_two_keys_gives_different_features() -> None:
    words = [f"word{index}" for index in range(200)]
    first = {word_feature(word, b"installation one") for word in words}
    second = {word_feature(word, b"installation two") for word in words}
    # 32-bit names: a chance collision among 200 x 200 pairs has probability ~1e-5.
    assert first.isdisjoint(second)


def test_an_unkeyed_dictionary_does_not_match_the_names() -> None:
    # Issue 9: the unkeyed digest of each word was turned back into the prompt.
    prompt = "please email alice at example com about zqxcanary7731"
    unkeyed = {hashlib.blake2b(word.encode(), digest_size=4).hexdigest() for word in prompt.split()}
    assert unkeyed.isdisjoint(_names(prompt))


@pytest.mark.parametrize("key", [b"", bytes(65)])
def test_word_keys_must_fit_blake2b(key: bytes) -> None:
    with pytest.raises(FeatureError, match=f"got {len(key)} bytes"):
        word_feature("hello", key)


def test_no_words_gives_no_namespace() -> None:
    assert words_namespace(" ... !!! ", _KEY) is None
    assert words_namespace("", _KEY) is None


def test_lone_surrogate_does_not_fail() -> None:
    assert _names("\ud800abc") == _bag("abc")
