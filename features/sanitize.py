"""Turn arbitrary user strings into tokens that are safe inside a Vowpal Wabbit feature name."""

from __future__ import annotations

import hashlib
import re

__all__ = ["safe_token", "utf8"]

# Short, readable strings pass through so that logged contexts stay legible; everything else
# (spaces, "|", ":", "=", non-ASCII, long strings) is hashed.
_LITERAL = re.compile(r"[A-Za-z0-9_.\-]{1,48}")


def safe_token(text: str) -> str:
    """Return ``text`` if it is a short plain token, otherwise a ``~``-prefixed blake2b digest.

    The ``~`` cannot occur in a literal token, so a hashed token never equals a literal one,
    and ``=`` occurs in neither, so ``key=value`` composites split in exactly one way.

    >>> safe_token("gpt-4o_mini.v2")
    'gpt-4o_mini.v2'
    >>> safe_token("two words")
    '~b0ce94d70c1661cc'
    >>> safe_token("")
    '~e4a6a0577479b2b4'
    """
    # hashlib, not hash(): the token must agree across processes and restarts.
    if _LITERAL.fullmatch(text):
        return text
    return "~" + hashlib.blake2b(utf8(text), digest_size=8).hexdigest()


def utf8(text: str) -> bytes:
    r"""Encode ``text`` as UTF-8, passing lone surrogates through instead of failing.

    JSON may carry a lone surrogate (``"\ud800"``); such a request must still get features,
    not an error from deep inside the router.

    >>> utf8("\u00e9\ud800")
    b'\xc3\xa9\xed\xa0\x80'
    """
    return text.encode("utf-8", "surrogatepass")
