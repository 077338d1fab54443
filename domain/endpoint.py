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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["ENDPOINT_APIS", "EndpointApi", "ModelEndpoint"]

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
        if not self.base_url.startswith(("http://", "https://")) or len(self.base_url) > _MAX_URL:
            raise ValueError(
                f"endpoint.base_url must start with http:// or https://, got {self.base_url!r}."
            )
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
