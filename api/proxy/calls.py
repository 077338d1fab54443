"""Calling one model: its key from the environment, the provider for its API, the time limits,
and retries with backoff after a 429, a 5xx, a timeout or a connection error."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.proxy.provider import ChunkStream, Completion, Provider, ProviderCall, ProviderError
from api.proxy.redact import redact
from api.settings import ProxySettings
from domain import ModelSpec

__all__ = ["ModelCalls", "Started"]


@dataclass(slots=True)
class Started:
    """A call that answered: a whole completion, or a stream whose first chunk is read (the
    point after which it can no longer be retried or fall back)."""

    model: ModelSpec
    #: ``monotonic()`` when the first try began.
    began: float
    completion: Completion | None = None
    stream: ChunkStream | None = None
    rest: AsyncIterator[dict[str, Any]] | None = None
    first: list[dict[str, Any]] = field(default_factory=list)


class ModelCalls:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        settings: ProxySettings,
        *,
        environ: Mapping[str, str],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``providers``: endpoint api (``"openai"``, ``"anthropic"``) -> provider;
        ``environ``: where keys are read, at call time (a rotated key needs no restart)."""
        self._providers = providers
        self._settings = settings
        self._environ = environ
        self._sleep = sleep
        self._monotonic = monotonic

    async def call(
        self, model: ModelSpec, body: Mapping[str, Any], *, stream: bool, seed: str
    ) -> Started:
        """Call ``model`` with the OpenAI request ``body``, retried while the failure is of
        kind ``retry`` (``seed``, a decision id, makes the backoff's jitter reproducible).
        Raises the last ``ProviderError``."""
        began = self._monotonic()
        prepared = self._prepared(model, body, stream=stream)
        provider = self._providers[prepared.endpoint.api]
        retries = self._settings.retries
        try:
            for attempt in range(retries):
                try:
                    return _redacting(await self._start(provider, prepared, model, began), prepared)
                except ProviderError as error:
                    if error.kind != "retry":
                        raise
                    await self._sleep(self.backoff(seed, attempt, error.retry_after))
            return _redacting(await self._start(provider, prepared, model, began), prepared)
        except ProviderError as error:
            raise _redacted(error, prepared) from None

    def backoff(self, seed: str, attempt: int, retry_after: float | None) -> float:
        """Doubling from ``backoff_seconds`` with up to 10% jitter (derived from ``seed``, so
        it is reproducible), or the provider's ``Retry-After`` up to its cap."""
        settings = self._settings
        if retry_after is not None:
            return min(retry_after, settings.retry_after_max_seconds)
        digest = hashlib.sha256(f"{seed}:{attempt}".encode()).digest()
        jitter = int.from_bytes(digest[:2], "big") / 65535 * 0.1
        return float(settings.backoff_seconds * 2.0**attempt * (1.0 + jitter))

    def _prepared(self, model: ModelSpec, body: Mapping[str, Any], *, stream: bool) -> ProviderCall:
        endpoint = model.endpoint
        if endpoint is None:  # its endpoint was removed since the decision
            raise ProviderError(f"Model {model.id!r} has no endpoint now.", kind="fallback")
        key: str | None = None
        name = endpoint.api_key_env
        if name is not None:
            if name not in self._settings.key_envs:
                raise ProviderError(
                    f"{name} (endpoint.api_key_env of {model.id!r}) is no longer listed in "
                    "BANDIT_ROUTER_PROVIDER_KEY_ENVS.",
                    kind="fallback",
                )
            key = self._environ.get(name) or None
            if key is None:
                raise ProviderError(
                    f"The environment variable {name} (the key of {model.id!r}) is not set "
                    "in the router's environment.",
                    kind="fallback",
                )
        return ProviderCall(endpoint, key, body, stream)

    async def _start(
        self, provider: Provider, call: ProviderCall, model: ModelSpec, began: float
    ) -> Started:
        """One try, up to its first chunk (a stream) or its whole answer (not streamed, where
        the answer starts only once it is complete) within the limit for each."""
        settings = self._settings
        limit = settings.first_byte_seconds if call.stream else settings.read_seconds
        try:
            async with asyncio.timeout(limit):
                reply = await provider.send(call)
                if isinstance(reply, Completion):
                    return Started(model, began, completion=reply)
                rest = aiter(reply)
                try:
                    first = await anext(rest)
                except StopAsyncIteration:
                    await reply.aclose()
                    raise ProviderError(
                        "The provider's stream ended before its first chunk.", kind="retry"
                    ) from None
                except BaseException:
                    await reply.aclose()
                    raise
                return Started(model, began, stream=reply, rest=rest, first=[first])
        except TimeoutError as error:
            raise ProviderError(
                f"The provider did not {'start answering' if call.stream else 'answer'} "
                f"within {limit:g} s.",
                kind="retry",
            ) from error


def _redacted(error: ProviderError, call: ProviderCall) -> ProviderError:
    """``error`` with the call's key and anything secret-shaped taken out of its text."""
    return ProviderError(
        redact(str(error), [call.api_key]),
        kind=error.kind,
        status=error.status,
        retry_after=error.retry_after,
    )


def _redacting(started: Started, call: ProviderCall) -> Started:
    """A stream whose failure mid-way is redacted too."""
    if started.rest is not None:
        started.rest = _redacted_stream(started.rest, call)
    return started


async def _redacted_stream(
    chunks: AsyncIterator[dict[str, Any]], call: ProviderCall
) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in chunks:
            yield chunk
    except ProviderError as error:
        raise _redacted(error, call) from None
