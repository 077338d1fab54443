import random
import re

from features.words import MAX_WORDS, word_feature, words_namespace


def _names(prompt: str) -> list[str]:
    namespace = words_namespace(prompt)
    assert namespace is not None
    assert all(value == 1.0 for _, value in namespace.features)
    return [name for name, _ in namespace.features]


def test_words_are_lower_cased_and_deduplicated_in_order() -> None:
    assert _names("Hello hello HELLO, world! World") == [
        word_feature("hello"),
        word_feature("world"),
    ]


def test_unicode_words_count() -> None:
    assert _names("na\u00efve caf\u00e9 \u041f\u0440\u0438\u0432\u0435\u0442") == [
        word_feature("na\u00efve"),
        word_feature("caf\u00e9"),
        word_feature("\u043f\u0440\u0438\u0432\u0435\u0442"),
    ]


def test_at_most_max_words_from_the_start() -> None:
    rng = random.Random(20240501)
    words = [f"w{index}x{rng.randrange(10**6)}" for index in range(4 * MAX_WORDS)]
    assert _names(" ".join(words)) == [word_feature(word) for word in words[:MAX_WORDS]]


def test_names_are_short_hex_and_hide_the_text() -> None:
    names = _names("secret password hunter2")
    assert all(re.fullmatch(r"[0-9a-f]{8}", name) for name in names)
    assert not any(word in name for name in names for word in ("secret", "password", "hunter2"))


def test_no_words_gives_no_namespace() -> None:
    assert words_namespace(" ... !!! ") is None
    assert words_namespace("") is None


def test_lone_surrogate_does_not_fail() -> None:
    assert _names("\ud800abc") == [word_feature("abc")]
