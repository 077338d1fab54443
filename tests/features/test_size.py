import math

import pytest

from features.size import estimate_tokens, size_namespace
from features.text import text_namespaces

_KEY = b"test installation key"


def _features(prompt: str) -> dict[str, float]:
    return dict(size_namespace(prompt).features)


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        (0, "chars_le_64"),
        (64, "chars_le_64"),
        (65, "chars_le_256"),
        (256, "chars_le_256"),
        (257, "chars_le_1k"),
        (1024, "chars_le_1k"),
        (1025, "chars_le_4k"),
        (4096, "chars_le_4k"),
        (4097, "chars_le_16k"),
        (16384, "chars_le_16k"),
        (16385, "chars_gt_16k"),
    ],
)
def test_char_buckets(length: int, bucket: str) -> None:
    features = _features("x" * length)
    assert [name for name in features if name.startswith("chars_")] == [bucket]
    assert features[bucket] == 1.0


@pytest.mark.parametrize(
    ("lines", "bucket"),
    [
        (1, "lines_le_1"),
        (2, "lines_le_4"),
        (4, "lines_le_4"),
        (5, "lines_le_16"),
        (16, "lines_le_16"),
        (17, "lines_le_64"),
        (64, "lines_le_64"),
        (65, "lines_gt_64"),
    ],
)
def test_line_buckets(lines: int, bucket: str) -> None:
    features = _features("\n".join(["line"] * lines))
    assert [name for name in features if name.startswith("lines_")] == [bucket]


def test_token_estimate_takes_the_larger_rule() -> None:
    assert estimate_tokens("x" * 400) == 100.0  # dense: chars / 4 wins
    assert estimate_tokens("a b c d") == pytest.approx(4 * 1.3)  # wordy: words * 1.3 wins
    assert estimate_tokens("") == 0.0


def test_log_tokens_is_log1p_of_the_estimate() -> None:
    assert _features("x" * 400)["log_tokens"] == pytest.approx(math.log1p(100.0))
    assert _features("")["log_tokens"] == 0.0


@pytest.mark.parametrize("prompt", ["", " ", "\n\t \n"])
def test_blank_prompt_has_only_the_size_namespace(prompt: str) -> None:
    namespaces = text_namespaces(prompt, word_key=_KEY)
    assert [namespace.name for namespace in namespaces] == ["size"]
    assert dict(namespaces[0].features)["chars_le_64"] == 1.0
