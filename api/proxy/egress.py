"""Where the proxy may send requests: public addresses only, unless the operator allows
private ones (``BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS``: a local vLLM or Ollama).

Anyone who may edit the catalog chooses an endpoint's URL; without this rule they could make
the router call its own loopback services or a cloud metadata address (169.254.169.254) and
read part of the answer in an error. A URL is checked when a model is stored (a literal
address, ``localhost``) and again on every call, after DNS, by the transport (a name that
resolves to a private address).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable

import httpx

from domain.endpoint import address_of, private_target, why_private

__all__ = ["EgressGuard", "EgressRefusedError"]

#: How long a name's addresses are trusted before they are looked up again.
_RESOLVED_SECONDS = 60.0


class EgressRefusedError(httpx.TransportError):
    """The endpoint's host is a private, loopback or link-local address."""


class EgressGuard(httpx.AsyncBaseTransport):
    """An httpx transport that refuses hosts resolving to non-public addresses, then hands
    the request to ``inner``."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    ) -> None:
        """``resolve``: a name's addresses (default: the event loop's ``getaddrinfo``)."""
        self._inner = inner
        self._monotonic = monotonic
        self._resolve = resolve or _addresses
        self._checked: dict[str, tuple[float, str | None]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        why = await self._why_refused(host, request.url.port or 443)
        if why is not None:
            raise EgressRefusedError(
                f"{host} is {why}; the router calls public addresses only unless "
                "BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS is true.",
                request=request,
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def _why_refused(self, host: str, port: int) -> str | None:
        cached = self._checked.get(host)
        now = self._monotonic()
        if cached is not None and now - cached[0] < _RESOLVED_SECONDS:
            return cached[1]
        why = private_target(host)
        if why is None and address_of(host.strip("[]")) is None:
            why = await self._resolved_private(host, port)
        self._checked[host] = (now, why)
        return why

    async def _resolved_private(self, host: str, port: int) -> str | None:
        try:
            addresses = await self._resolve(host, port)
        except OSError:
            return None  # the connection will fail on its own, with a clearer error
        for address in addresses:
            why = why_private(ipaddress.ip_address(address.split("%")[0]))
            if why is not None:
                return f"a name for {why} ({address})"
        return None


async def _addresses(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in found]
