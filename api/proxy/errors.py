"""What the proxy answers when no provider gave an answer."""

from __future__ import annotations

__all__ = ["ProxyError"]


class ProxyError(Exception):
    """The request got no answer: ``status`` 502 when every model tried failed, or the
    provider's 4xx when it refused the request itself. ``detail`` names every attempt."""

    def __init__(self, detail: str, *, status: int, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
