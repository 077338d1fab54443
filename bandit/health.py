"""Model health: a model whose calls keep failing cools down, then comes back by itself.

The application reports a failed call (an error, a timeout, a 429) as feedback with ``error``
set. A *call* is a decision for the model that has feedback: it counts once however many
feedback it has, and it *failed* when any of them reports an error (a judge's score beside
the application's error report does not make a second call, nor undo the failure). Only the
error counts: a ``fallback`` flag without an error may be the application's choice (a
cascade escalating), not the model's failure.

Over a policy's ``window_seconds``, a model with at least ``min_calls`` calls of which more
than ``max_error_rate`` failed is *cooling down*: routing leaves it out for
``cooldown_seconds``. Then it is re-admitted whatever happened meanwhile, and it cools again
only by failing over a fresh window, counted from its re-admission (``window_start``): the
calls that cooled it once never cool it twice, so nothing excludes a model for good.

Everything here is pure: the service counts calls in the database (the truth shared by every
server process) and hands the counts to ``assess`` with the model's previous ``Cooldown``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_COOLDOWN_SECONDS",
    "MAX_MIN_CALLS",
    "MAX_WINDOW_SECONDS",
    "MIN_LATENCY_SAMPLES",
    "MIN_TOKEN_SAMPLES",
    "CallOutcomes",
    "Cooldown",
    "HealthSettings",
    "ModelObservation",
    "Usage",
    "assess",
    "nearest_rank",
    "observe",
    "window_start",
]

#: Longest counting window: a day. Health is about the last minutes, not about history.
MAX_WINDOW_SECONDS = 86_400.0
#: Longest cooldown: a day; a model down for longer comes back, fails ``min_calls`` calls, and
#: cools again.
MAX_COOLDOWN_SECONDS = 86_400.0
MAX_MIN_CALLS = 1_000_000
#: Latencies needed for a p95: with fewer, the nearest-rank p95 is the slowest call, one
#: outlier's word.
MIN_LATENCY_SAMPLES = 20
#: Output token counts needed for a mean output length.
MIN_TOKEN_SAMPLES = 5
#: Characters of the last error quoted in a reason: enough for a status line and a code.
_QUOTED_ERROR_CHARS = 200


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """When a policy cools a model down, and for how long.

    A model cools down when, among its calls in the last ``window_seconds``, at least
    ``min_calls`` were made and the share that failed is above ``max_error_rate``. It is
    re-admitted ``cooldown_seconds`` later. ``max_error_rate=1`` never cools a model (health
    off); ``0`` cools it on any failure once ``min_calls`` calls were made.

    >>> HealthSettings()
    HealthSettings(window_seconds=60.0, min_calls=5, max_error_rate=0.5, cooldown_seconds=30.0)
    >>> HealthSettings(min_calls=0)
    Traceback (most recent call last):
    ...
    ValueError: health min_calls must be a whole number from 1 to 1000000, got 0.
    >>> HealthSettings(cooldown_seconds=0.0)
    Traceback (most recent call last):
    ...
    ValueError: health cooldown_seconds must be a number above 0 and at most 86400, got 0.0.
    """

    window_seconds: float = 60.0
    min_calls: int = 5
    max_error_rate: float = 0.5
    cooldown_seconds: float = 30.0

    def __post_init__(self) -> None:
        _check_positive("window_seconds", self.window_seconds, MAX_WINDOW_SECONDS)
        _check_positive("cooldown_seconds", self.cooldown_seconds, MAX_COOLDOWN_SECONDS)
        calls = self.min_calls
        if isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= MAX_MIN_CALLS:
            raise ValueError(
                f"health min_calls must be a whole number from 1 to {MAX_MIN_CALLS}, got {calls!r}."
            )
        rate = self.max_error_rate
        if not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ValueError(f"health max_error_rate must be a number from 0 to 1, got {rate!r}.")


def _check_positive(name: str, value: float, ceiling: float) -> None:
    if not (math.isfinite(value) and 0.0 < value <= ceiling):
        raise ValueError(
            f"health {name} must be a number above 0 and at most {ceiling:g}, got {value!r}."
        )


@dataclass(frozen=True, slots=True)
class CallOutcomes:
    """A model's calls counted since ``window_start``: how many, how many failed, and the
    last failure's error text and time (seconds since the epoch).

    >>> CallOutcomes(calls=2, failures=3)
    Traceback (most recent call last):
    ...
    ValueError: A model cannot have 3 failed calls out of 2.
    """

    calls: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None

    def __post_init__(self) -> None:
        if self.calls < 0 or self.failures < 0:
            raise ValueError(
                f"Call counts cannot be negative, got {self.calls} calls and "
                f"{self.failures} failures."
            )
        if self.failures > self.calls:
            raise ValueError(
                f"A model cannot have {self.failures} failed calls out of {self.calls}."
            )


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A model left out of routing from ``started_at`` until ``until``, and why (a sentence)."""

    model: str
    started_at: float
    until: float
    reason: str

    def active_at(self, now: float) -> bool:
        """Whether the model is still cooling down at ``now`` (re-admitted at ``until``)."""
        return now < self.until


def window_start(settings: HealthSettings, previous: Cooldown | None, now: float) -> float:
    """Where the window whose calls count begins: ``window_seconds`` ago, but never before
    the model's last re-admission, so that only a fresh window can cool it again.

    >>> settings = HealthSettings(window_seconds=60.0)
    >>> window_start(settings, None, 1000.0)
    940.0
    >>> window_start(settings, Cooldown("m", 900.0, 930.0, "..."), 1000.0)  # re-admitted at 930
    940.0
    >>> window_start(settings, Cooldown("m", 930.0, 960.0, "..."), 1000.0)
    960.0
    """
    start = now - settings.window_seconds
    if previous is not None:
        start = max(start, previous.until)
    return start


def assess(
    settings: HealthSettings,
    model: str,
    outcomes: CallOutcomes,
    *,
    previous: Cooldown | None,
    now: float,
) -> Cooldown | None:
    """The model's cooldown to keep: ``previous`` while it runs, a new one when ``outcomes``
    (counted since ``window_start(settings, previous, now)``) breach the settings, else the
    expired ``previous`` while it still shortens the window, else None.

    The result is the ``previous`` of the next assessment; the model is excluded while
    ``result.active_at(now)``. A cooldown is never extended: calls already routed to the
    model may keep failing while it cools, and none of them counts after its re-admission.

    >>> settings = HealthSettings(min_calls=5, max_error_rate=0.5, cooldown_seconds=30.0)
    >>> bad = CallOutcomes(calls=8, failures=6, last_error="429 rate limited")
    >>> cooldown = assess(settings, "gpt-4", bad, previous=None, now=1_700_000_001.0)
    >>> print(cooldown.reason)  # doctest: +NORMALIZE_WHITESPACE
    gpt-4 is cooling down until 22:13:51 UTC: 6 of 8 calls in the last 60 s failed
    (last: '429 rate limited').
    >>> assess(settings, "gpt-4", CallOutcomes(calls=4, failures=4), previous=None, now=0.0)
    >>> assess(settings, "gpt-4", CallOutcomes(calls=10, failures=5), previous=None, now=0.0)
    """
    if previous is not None and previous.active_at(now):
        return previous
    start = window_start(settings, previous, now)
    if outcomes.calls >= settings.min_calls and (
        outcomes.failures > settings.max_error_rate * outcomes.calls
    ):
        until = now + settings.cooldown_seconds
        return Cooldown(
            model=model,
            started_at=now,
            until=until,
            reason=_reason(settings, model, outcomes, start=start, until=until, now=now),
        )
    if previous is not None and previous.until > now - settings.window_seconds:
        return previous  # re-admitted, but its fresh window has not yet run a full length
    return None


def _reason(
    settings: HealthSettings,
    model: str,
    outcomes: CallOutcomes,
    *,
    start: float,
    until: float,
    now: float,
) -> str:
    span = (
        f"in the last {settings.window_seconds:g} s"
        if start <= now - settings.window_seconds
        else f"since it was re-admitted at {_clock_time(start)}"
    )
    last = ""
    if outcomes.last_error is not None:
        quoted = outcomes.last_error
        if len(quoted) > _QUOTED_ERROR_CHARS:
            quoted = quoted[: _QUOTED_ERROR_CHARS - 3] + "..."
        last = f" (last: {quoted!r})"
    return (
        f"{model} is cooling down until {_clock_time(until)}: {outcomes.failures} of "
        f"{outcomes.calls} calls {span} failed{last}."
    )


def _clock_time(at: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(at))


@dataclass(frozen=True, slots=True)
class ModelObservation:
    """What the router has observed of one model, for eligibility.

    ``p95_latency_ms`` and ``mean_output_tokens`` are None until enough calls reported them;
    ``cooldown_until`` and ``cooldown_reason`` are set while the model cools down (it is
    re-admitted at ``cooldown_until``).
    """

    p95_latency_ms: float | None = None
    mean_output_tokens: float | None = None
    cooldown_until: float | None = None
    cooldown_reason: str | None = None

    def cooling_at(self, now: float) -> bool:
        """Whether the model is to be left out of routing at ``now``.

        >>> ModelObservation(cooldown_until=10.0, cooldown_reason="...").cooling_at(9.5)
        True
        >>> ModelObservation(cooldown_until=10.0, cooldown_reason="...").cooling_at(10.0)
        False
        """
        return self.cooldown_until is not None and now < self.cooldown_until


def nearest_rank(values: Sequence[float], quantile: float) -> float | None:
    """The nearest-rank ``quantile`` of ``values`` (an observed value, never interpolated);
    None for no values.

    >>> nearest_rank([float(v) for v in range(1, 101)], 0.95)
    95.0
    >>> nearest_rank([3.0, 1.0, 2.0], 0.95), nearest_rank([], 0.95)
    (3.0, None)
    """
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"A quantile must be in (0, 1], got {quantile!r}.")
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(quantile * len(ordered)) - 1, 0)]


@dataclass(frozen=True, slots=True)
class Usage:
    """A model's recent calls as reported in feedback: latencies (ms) and output tokens."""

    latencies_ms: tuple[float, ...] = ()
    output_tokens: tuple[int, ...] = ()


def observe(usage: Usage | None, cooldown: Cooldown | None, now: float) -> ModelObservation:
    """One model's observation: p95 latency and mean output length from ``usage`` (None
    below ``MIN_LATENCY_SAMPLES`` / ``MIN_TOKEN_SAMPLES``), and ``cooldown`` while active.

    >>> usage = Usage(tuple(float(v) for v in range(1, 21)), (100, 300, 200, 200, 200))
    >>> observe(usage, None, 0.0)
    ModelObservation(p95_latency_ms=19.0, mean_output_tokens=200.0, cooldown_until=None, \
cooldown_reason=None)
    >>> observe(Usage((120.0,), (50,)), Cooldown("m", 0.0, 30.0, "m is cooling down..."), 10.0)
    ModelObservation(p95_latency_ms=None, mean_output_tokens=None, cooldown_until=30.0, \
cooldown_reason='m is cooling down...')
    """
    latencies = () if usage is None else usage.latencies_ms
    outputs = () if usage is None else usage.output_tokens
    active = cooldown is not None and cooldown.active_at(now)
    return ModelObservation(
        p95_latency_ms=nearest_rank(latencies, 0.95)
        if len(latencies) >= MIN_LATENCY_SAMPLES
        else None,
        mean_output_tokens=math.fsum(outputs) / len(outputs)
        if len(outputs) >= MIN_TOKEN_SAMPLES
        else None,
        cooldown_until=cooldown.until if cooldown is not None and active else None,
        cooldown_reason=cooldown.reason if cooldown is not None and active else None,
    )
