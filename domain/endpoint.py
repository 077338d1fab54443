"""How the proxy calls a model: which API, where, under which name, with which key's variable.

The key itself is never part of an endpoint: only the name of the environment variable that
holds it, which the operator must also list in ``BANDIT_ROUTER_PROVIDER_KEY_ENVS`` (checked by
``api/``, which reads the environment).

>>> ModelEndpoint("openai", "https://api.openai.com/v1", "gpt-4o-mini", "OPENAI_API_KEY").api
'openai'
>>> ModelEndpoint("openai", "ftp://x", "m", "K")
Traceback (most recent call last):
...
ValueError: endpoint.base_url must start with http:// or https://, got 'ftp://x'.
>>> ModelEndpoint("openai", "https://user:pw@api.example.com/v1", "m")
Traceback (most recent call last):
...
ValueError: endpoint.base_url must not carry credentials (user:password@): keys go in api_key_env.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

__all__ = [
    "ENDPOINT_APIS",
    "EndpointApi",
    "ModelEndpoint",
    "address_of",
    "private_target",
    "why_private",
]

EndpointApi = Literal["openai", "anthropic"]
ENDPOINT_APIS: tuple[str, ...] = get_args(EndpointApi)

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_MAX_URL = 2048
_MAX_NAME = 256


@dataclass(frozen=True, slots=True)
class ModelEndpoint:
    """``api``: OpenAI-compatible chat completions or Anthropic's Messages API;
    ``base_url``: up to the version (``https://api.openai.com/v1``,
    ``https://api.anthropic.com``); ``model``: the provider's name for the model;
    ``api_key_env``: the environment variable holding the key (None: no key is sent)."""

    api: EndpointApi
    base_url: str
    model: str
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if self.api not in ENDPOINT_APIS:
            raise ValueError(
                f"endpoint.api must be one of {', '.join(ENDPOINT_APIS)}, got {self.api!r}."
            )
        _check_url(self.base_url)
        if not self.model or len(self.model) > _MAX_NAME:
            raise ValueError(
                f"endpoint.model must be the provider's model name (1 to {_MAX_NAME} "
                f"characters), got {self.model!r}."
            )
        if self.api_key_env is not None and not _ENV_NAME.fullmatch(self.api_key_env):
            raise ValueError(
                "endpoint.api_key_env must be an environment variable name (letters, digits, "
                f"underscores), got {self.api_key_env!r}."
            )


def _check_url(url: str) -> None:
    """A URL the proxy can call, read by a real parser: http(s), a host, no credentials, no
    query or fragment (paths are appended), nothing a header or a request line could split
    on."""
    if not url.startswith(("http://", "https://")) or len(url) > _MAX_URL:
        raise ValueError(f"endpoint.base_url must start with http:// or https://, got {url!r}.")
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(
            f"endpoint.base_url must not contain spaces or control characters, got {url!r}."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"endpoint.base_url is not a valid URL ({error}): {url!r}.") from None
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "endpoint.base_url must not carry credentials (user:password@): keys go in api_key_env."
        )
    if not parts.hostname:
        raise ValueError(f"endpoint.base_url needs a host, got {url!r}.")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(
            f"endpoint.base_url must not have a query or a fragment (the router appends the "
            f"API's path), got {url!r}."
        )
    if port == 0:
        raise ValueError(f"endpoint.base_url has port 0, got {url!r}.")


_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def private_target(host: str) -> str | None:
    """Why ``host`` (a name or an address, in any form ``inet_aton`` reads) is not public, or
    None when it may be public (a name is checked again after DNS).

    >>> private_target("169.254.169.254"), private_target("0x7f000001")
    ('a link-local address', 'a loopback address')
    >>> private_target("api.openai.com") is None
    True
    """
    name = host.strip("[]").rstrip(".").lower()
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "a loopback name"
    address = address_of(name)
    return None if address is None else why_private(address)


def address_of(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:  # 127.1, 0x7f.0.0.1, 2130706433: forms the resolver accepts for an IPv4 address
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def why_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for test, reason in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
    ):
        if test:
            return reason
    return None
