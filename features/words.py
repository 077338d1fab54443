"""The ``words`` namespace: a keyed-hashed, bounded, deduplicated bag of the prompt's words.

The stored context of every decision holds these names, so they must not give the prompt
back: an unkeyed 32-bit hash of each word was reversed with a 243k-word dictionary. Each name
is a blake2b MAC under the installation's secret key (the key of the prompt hash), so only
someone holding the key can test a guess; and the names are sorted, so the bag does not
reveal the order of the words either.
"""

from __future__ import annotations

import hashlib
import re

from bandit.types import Namespace
from features.errors import FeatureError
from features.sanitize import utf8

__all__ = ["MAX_WORDS", "NAMESPACE", "word_feature", "words_namespace"]

NAMESPACE = "words"
#: Distinct words kept, from the start of the prompt; bounds the example size.
MAX_WORDS = 128

_WORD = re.compile(r"\w+")


def word_feature(word: str, key: bytes) -> str:
    """Return the feature name of a (lower-cased) word: 8 hex digits of its blake2b MAC.

    Keyed, so a dictionary of words hashed without ``key`` matches none of the names.

    >>> word_feature("hello", b"k1") == word_feature("hello", b"k1")
    True
    >>> word_feature("hello", b"k1") == word_feature("hello", b"k2")
    False
    """
    if not 1 <= len(key) <= hashlib.blake2b.MAX_KEY_SIZE:
        raise FeatureError(
            f"A word-hash key must be 1 to {hashlib.blake2b.MAX_KEY_SIZE} bytes, "
            f"got {len(key)} bytes."
        )
    return hashlib.blake2b(utf8(word), digest_size=4, key=key).hexdigest()


def words_namespace(prompt: str, key: bytes) -> Namespace | None:
    """Return one feature per distinct lower-cased word, sorted by name (a bag: no order).

    The first ``MAX_WORDS`` distinct words count.

    >>> a = words_namespace("Hello, hello world!", b"key").features
    >>> b = words_namespace("world hello", b"key").features
    >>> a == b, len(a)
    (True, 2)
    >>> words_namespace(" ... ", b"key") is None
    True
    """
    names: set[str] = set()
    seen: set[str] = set()
    for match in _WORD.finditer(prompt):
        word = match.group().lower()
        if word in seen:
            continue
        seen.add(word)
        # Deduplicating the digests too keeps names distinct even if two words collide.
        names.add(word_feature(word, key))
        if len(names) == MAX_WORDS:
            break
    if not names:
        return None
    return Namespace(NAMESPACE, tuple((name, 1.0) for name in sorted(names)))
