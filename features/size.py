"""The ``size`` namespace: how long the prompt is, in characters, lines and estimated tokens."""

from __future__ import annotations

import math

from bandit.types import Namespace

__all__ = ["NAMESPACE", "estimate_tokens", "size_namespace"]

NAMESPACE = "size"

# One-hot buckets rather than raw counts: a linear learner cannot bend a raw count, but it can
# weigh "short", "medium" and "long" prompts differently.
_CHAR_BUCKETS = (
    (64, "chars_le_64"),
    (256, "chars_le_256"),
    (1024, "chars_le_1k"),
    (4096, "chars_le_4k"),
    (16384, "chars_le_16k"),
)
_CHARS_OVER = "chars_gt_16k"
_LINE_BUCKETS = ((1, "lines_le_1"), (4, "lines_le_4"), (16, "lines_le_16"), (64, "lines_le_64"))
_LINES_OVER = "lines_gt_64"


def estimate_tokens(prompt: str) -> float:
    """Estimate the prompt's token count without a tokenizer: max(chars / 4, words * 1.3).

    Both are rules of thumb for English BPE tokenizers; the max keeps dense text (code, CJK)
    and wordy text from being underestimated. It is an estimate, not a count.

    >>> estimate_tokens("one two three")
    3.9000000000000004
    >>> estimate_tokens("x" * 400)
    100.0
    """
    return max(len(prompt) / 4, len(prompt.split()) * 1.3)


def size_namespace(prompt: str) -> Namespace:
    """Return the length bucket, line bucket and ``log_tokens`` of ``prompt``.

    >>> size_namespace("How long is a piece of string?").features
    (('chars_le_64', 1.0), ('lines_le_1', 1.0), ('log_tokens', 2.312535423847214))
    """
    chars = _bucket(len(prompt), _CHAR_BUCKETS, _CHARS_OVER)
    lines = _bucket(prompt.count("\n") + 1, _LINE_BUCKETS, _LINES_OVER)
    return Namespace(
        NAMESPACE,
        ((chars, 1.0), (lines, 1.0), ("log_tokens", math.log1p(estimate_tokens(prompt)))),
    )


def _bucket(count: int, buckets: tuple[tuple[int, str], ...], over: str) -> str:
    for limit, name in buckets:
        if count <= limit:
            return name
    return over
