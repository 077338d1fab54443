"""Calling one model: retries with backoff and a capped Retry-After, which failures are not
retried, and where the key comes from (function-backed fake providers, a recorded sleep)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from api.proxy.calls import ModelCalls
from api.proxy.provider import Completion, ProviderCall, ProviderError, Reply, Usage
from api.settings import ProxySettings
from domain import ModelEndpoint, ModelSpec

MODEL = ModelSpec(
    "m", 1.0, 2.0, endpoint=ModelEndpoint("openai", "https://x.example/v1", "m-1", "M_KEY")
)
SETTINGS = ProxySettings(
    key_envs=frozenset({"M_KEY"}), retries=3, backoff_seconds=0.5, retry_after_max_seconds=4.0
)


class _Fake:
    """A provider answering with ``replies`` in turn (an exception is raised)."""

    def __init__(self, *replies: Reply | ProviderError) -> None:
        self.replies = list(replies)
        self.calls: list[ProviderCall] = []

    async def send(self, call: ProviderCall) -> Reply:
        self.calls.append(call)
        reply = self.replies.pop(0)
        if isinstance(reply, ProviderError):
            raise reply
        return reply


def _calls(
    provider: _Fake, *, environ: dict[str, str] | None = None
) -> tuple[ModelCalls, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    sleeper: Callable[[float], Awaitable[None]] = sleep
    calls = ModelCalls(
        {"openai": provider},
        SETTINGS,
        environ={"M_KEY": "secret"} if environ is None else environ,
        sleep=sleeper,
    )
    return calls, slept


OK = Completion({"choices": []}, Usage(1, 2))


async def test_retries_back_off_doubling_and_honour_retry_after_up_to_its_cap() -> None:
    provider = _Fake(
        ProviderError("503", kind="retry", status=503),
        ProviderError("429", kind="retry", status=429, retry_after=3600.0),
        ProviderError("timeout", kind="retry"),
        OK,
    )
    calls, slept = _calls(provider)
    started = await calls.call(MODEL, {"messages": []}, stream=False, seed="d1")
    assert started.completion is OK
    assert len(provider.calls) == 4
    assert provider.calls[0].api_key == "secret"
    assert provider.calls[0].endpoint.model == "m-1"
    # 0.5 s then (capped Retry-After) 4 s then 0.5 * 4 s, each first one with up to 10% jitter.
    assert 0.5 <= slept[0] <= 0.55
    assert slept[1] == 4.0
    assert 2.0 <= slept[2] <= 2.2
    again, slept_again = _calls(
        _Fake(ProviderError("503", kind="retry"), ProviderError("503", kind="retry"), OK)
    )
    await again.call(MODEL, {}, stream=False, seed="d1")
    assert slept_again[0] == slept[0]  # the same seed and try: the same jitter
    assert 1.0 <= slept_again[1] <= 1.1


async def test_the_last_failure_is_raised_after_the_retries() -> None:
    provider = _Fake(*(ProviderError(f"503 #{i}", kind="retry") for i in range(4)))
    calls, slept = _calls(provider)
    with pytest.raises(ProviderError, match="503 #3"):
        await calls.call(MODEL, {}, stream=False, seed="d2")
    assert len(slept) == 3


@pytest.mark.parametrize("kind", ["fallback", "refused"])
async def test_failures_that_a_retry_cannot_fix_are_not_retried(kind: str) -> None:
    provider = _Fake(ProviderError("no", kind=kind), OK)  # type: ignore[arg-type]
    calls, slept = _calls(provider)
    with pytest.raises(ProviderError):
        await calls.call(MODEL, {}, stream=False, seed="d3")
    assert (len(provider.calls), slept) == (1, [])


async def test_a_key_variable_that_is_unset_or_no_longer_allowed_means_fall_back() -> None:
    calls, _ = _calls(_Fake(OK), environ={})
    with pytest.raises(ProviderError, match=r"M_KEY .* is not set") as unset:
        await calls.call(MODEL, {}, stream=False, seed="d4")
    assert unset.value.kind == "fallback"
    other = ModelSpec(
        "o", 1.0, 1.0, endpoint=ModelEndpoint("openai", "https://x.example", "o", "OTHER")
    )
    with pytest.raises(ProviderError, match="no longer listed") as unlisted:
        await calls.call(other, {}, stream=False, seed="d5")
    assert unlisted.value.kind == "fallback"
