"""The ``language`` namespace: which writing system the prompt uses, and how ASCII it is."""

from __future__ import annotations

import unicodedata
from collections import Counter

from bandit.types import Namespace

__all__ = ["NAMESPACE", "SAMPLE_CHARS", "SCRIPTS", "dominant_script", "language_namespace"]

NAMESPACE = "language"
#: Only the start of the prompt is inspected for its script: enough to tell, bounded in cost.
SAMPLE_CHARS = 2000
#: Every value of the ``script=`` feature.
SCRIPTS = (
    "latin",
    "cyrillic",
    "cjk",
    "arabic",
    "devanagari",
    "greek",
    "hebrew",
    "hangul",
    "other",
)

# Unicode character names start with their script ("CYRILLIC SMALL LETTER A", "CJK UNIFIED
# IDEOGRAPH-4E00"), which covers every supplement block without a table of codepoint ranges.
_SCRIPT_OF_NAME = {
    "LATIN": "latin",
    "CYRILLIC": "cyrillic",
    "CJK": "cjk",
    "HIRAGANA": "cjk",
    "KATAKANA": "cjk",
    "BOPOMOFO": "cjk",
    "ARABIC": "arabic",
    "DEVANAGARI": "devanagari",
    "GREEK": "greek",
    "HEBREW": "hebrew",
    "HANGUL": "hangul",
}
_WIDTH_PREFIXES = ("FULLWIDTH", "HALFWIDTH")


def language_namespace(prompt: str) -> Namespace | None:
    """Return ``script=<name>`` and ``ascii_ratio`` for ``prompt``; None if it is blank.

    ``ascii_ratio`` is the share of ASCII characters in the whole prompt.

    >>> language_namespace("Привет, мир").features
    (('script=cyrillic', 1.0), ('ascii_ratio', 0.18181818181818182))
    >>> language_namespace("  \\n") is None
    True
    """
    if not prompt.strip():
        return None
    # The ASCII codec drops every other character at C speed, even for a huge prompt.
    ascii_ratio = len(prompt.encode("ascii", "ignore")) / len(prompt)
    return Namespace(
        NAMESPACE,
        ((f"script={dominant_script(prompt)}", 1.0), ("ascii_ratio", ascii_ratio)),
    )


def dominant_script(prompt: str) -> str:
    """Return the script of most letters among the first ``SAMPLE_CHARS`` characters.

    Ties go to the script seen first; no letters at all gives ``other``.

    >>> dominant_script("東京 is in 日本")
    'cjk'
    >>> dominant_script("12 + 3")
    'other'
    """
    counts = Counter(_script(char) for char in prompt[:SAMPLE_CHARS] if char.isalpha())
    if not counts:
        return "other"
    return counts.most_common(1)[0][0]


def _script(letter: str) -> str:
    if letter.isascii():
        return "latin"
    words = unicodedata.name(letter, "").split(" ", 2)
    if words[0] in _WIDTH_PREFIXES and len(words) > 1:
        words = words[1:]
    return _SCRIPT_OF_NAME.get(words[0], "other")
