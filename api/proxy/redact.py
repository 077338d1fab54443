"""Secrets out of provider error text before it is returned, logged or stored.

A provider that echoes a request back in its error (some do, on a bad key) would otherwise
hand the caller the router's key. The key of the call is removed by value, and anything
shaped like a well-known secret by pattern.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["REDACTED", "redact"]

REDACTED = "[redacted]"
#: OpenAI and Anthropic keys, bearer tokens, AWS access keys, Google API keys, GitHub and
#: Slack tokens.
_SECRET_SHAPES = re.compile(
    r"sk-(?:ant-)?[A-Za-z0-9_\-]{8,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
)
#: A value shorter than this is not looked for: it would match ordinary words.
_MIN_SECRET = 6


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` and every secret-shaped token replaced.

    >>> redact("invalid key sk-proj-abcdef123456 for user", ["hunter2-key"])
    'invalid key [redacted] for user'
    >>> redact("echo: hunter2-key", ["hunter2-key"])
    'echo: [redacted]'
    """
    for secret in secrets:
        if secret is not None and len(secret) >= _MIN_SECRET:
            text = text.replace(secret, REDACTED)
    return _SECRET_SHAPES.sub(REDACTED, text)
