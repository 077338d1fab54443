"""One POST to a provider over httpx, with its failures turned into ``ProviderError``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from api.proxy.egress import EgressRefusedError
from api.proxy.provider import ProviderError, error_for_status

__all__ = ["open_post", "read_json"]


async def open_post(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], body: Mapping[str, Any]
) -> httpx.Response:
    """The provider's response, headers read and body not yet: the caller reads or streams it
    and must close it. An error status is read, closed and raised."""
    try:
        request = client.build_request("POST", url, headers=dict(headers), json=dict(body))
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        # An endpoint stored before URLs were checked: this model cannot be called.
        raise ProviderError(
            f"The endpoint's URL is not usable: {error}.", kind="fallback"
        ) from error
    try:
        response = await client.send(request, stream=True)
    except EgressRefusedError as error:
        raise ProviderError(str(error), kind="fallback") from error
    except httpx.TimeoutException as error:
        raise ProviderError(
            f"The provider did not answer in time ({type(error).__name__}).", kind="retry"
        ) from error
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise ProviderError(
            f"The provider could not be reached ({type(error).__name__}: {error}).", kind="retry"
        ) from error
    if response.status_code >= 400:
        try:
            text = (await response.aread()).decode(errors="replace")
        except httpx.HTTPError:
            text = ""
        finally:
            await response.aclose()
        raise error_for_status(response.status_code, text, response.headers)
    return response


async def read_json(response: httpx.Response) -> dict[str, Any]:
    """The whole body as a JSON object, the response closed."""
    try:
        raw = await response.aread()
    except httpx.TimeoutException as error:
        raise ProviderError(
            f"The provider's answer stalled ({type(error).__name__}).", kind="retry"
        ) from error
    except httpx.HTTPError as error:
        raise ProviderError(
            f"The provider's answer broke off ({type(error).__name__}: {error}).", kind="retry"
        ) from error
    finally:
        await response.aclose()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ProviderError(
            f"The provider answered with something that is not JSON: {raw[:200]!r}.",
            kind="retry",
        ) from error
    if not isinstance(value, dict):
        raise ProviderError("The provider's answer is not a JSON object.", kind="retry")
    return value
