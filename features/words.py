"""The ``words`` namespace: a hashed, bounded, deduplicated bag of the prompt's words."""

from __future__ import annotations

import hashlib
import re

from bandit.types import Namespace
from features.sanitize import utf8

__all__ = ["MAX_WORDS", "NAMESPACE", "word_feature", "words_namespace"]

NAMESPACE = "words"
#: Distinct words kept, from the start of the prompt; bounds the example size.
MAX_WORDS = 128

_WORD = re.compile(r"\w+")


def word_feature(word: str) -> str:
    """Return the feature name of a (lower-cased) word: 8 hex digits of its blake2b digest.

    Hashing keeps user text out of the model verbatim and makes every name the same short size.

    >>> word_feature("hello")
    'ea6706f7'
    """
    return hashlib.blake2b(utf8(word), digest_size=4).hexdigest()


def words_namespace(prompt: str) -> Namespace | None:
    """Return one feature per distinct lower-cased word, in order of first appearance.

    >>> words_namespace("Hello, hello world!").features
    (('ea6706f7', 1.0), ('80c94fb4', 1.0))
    >>> words_namespace(" ... ") is None
    True
    """
    names: dict[str, None] = {}  # an ordered set of feature names
    seen: set[str] = set()
    for match in _WORD.finditer(prompt):
        word = match.group().lower()
        if word in seen:
            continue
        seen.add(word)
        # Deduplicating the digests too keeps names distinct even if two words collide.
        names[word_feature(word)] = None
        if len(names) == MAX_WORDS:
            break
    if not names:
        return None
    return Namespace(NAMESPACE, tuple((name, 1.0) for name in names))
