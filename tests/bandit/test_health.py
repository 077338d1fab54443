"""The cooldown rule: enough failures cool a model, time re-admits it, a fresh window decides."""

from __future__ import annotations

import doctest
import math

import pytest

from bandit import health
from bandit.health import (
    MIN_LATENCY_SAMPLES,
    CallOutcomes,
    Cooldown,
    HealthSettings,
    ModelObservation,
    Usage,
    assess,
    nearest_rank,
    observe,
    window_start,
)
from tests.clock import FakeClock

SETTINGS = HealthSettings(
    window_seconds=60.0, min_calls=5, max_error_rate=0.5, cooldown_seconds=30.0
)


def test_doctests() -> None:
    """``pytest`` collects ``tests/`` only, so the docstrings' examples run from here."""
    failed, attempted = doctest.testmod(health)
    assert attempted > 0
    assert failed == 0


def test_enough_failures_cool_a_model_with_a_sentence_naming_them() -> None:
    clock = FakeClock()
    outcomes = CallOutcomes(calls=8, failures=6, last_error="429 rate limited", last_error_at=1.0)

    cooldown = assess(SETTINGS, "gpt-4", outcomes, previous=None, now=clock())

    assert cooldown is not None
    assert cooldown.active_at(clock())
    assert cooldown.started_at == clock.now
    assert cooldown.until == clock.now + 30.0
    assert cooldown.reason == (
        "gpt-4 is cooling down until 22:13:50 UTC: 6 of 8 calls in the last 60 s failed "
        "(last: '429 rate limited')."
    )


def test_min_calls_is_respected() -> None:
    four_of_four = CallOutcomes(calls=4, failures=4, last_error="timeout")
    assert assess(SETTINGS, "m", four_of_four, previous=None, now=0.0) is None
    five_of_five = CallOutcomes(calls=5, failures=5, last_error="timeout")
    assert assess(SETTINGS, "m", five_of_five, previous=None, now=0.0) is not None


def test_the_error_rate_must_be_above_the_maximum() -> None:
    assert assess(SETTINGS, "m", CallOutcomes(calls=10, failures=5), previous=None, now=0.0) is None
    assert assess(SETTINGS, "m", CallOutcomes(calls=10, failures=6), previous=None, now=0.0)


def test_a_single_429_does_not_cool_a_busy_healthy_model() -> None:
    busy = CallOutcomes(calls=500, failures=1, last_error="429 rate limited")
    assert assess(SETTINGS, "m", busy, previous=None, now=0.0) is None
    # Nor does a burst that stays a small share of its traffic.
    burst = CallOutcomes(calls=500, failures=40, last_error="429 rate limited")
    assert assess(SETTINGS, "m", burst, previous=None, now=0.0) is None


def test_a_cooled_model_is_re_admitted_after_the_cooldown_and_needs_a_fresh_window() -> None:
    clock = FakeClock()
    failing = CallOutcomes(calls=6, failures=6, last_error="503")
    cooldown = assess(SETTINGS, "m", failing, previous=None, now=clock())
    assert cooldown is not None

    # Still failing while it cools: the cooldown runs its course, unextended.
    clock.now += 29.0
    kept = assess(SETTINGS, "m", failing, previous=cooldown, now=clock())
    assert kept is cooldown
    assert kept.active_at(clock())

    # Re-admitted at the until-time; its window now starts there, so the calls that cooled
    # it (before the re-admission) cannot cool it again: the service counts none of them.
    clock.now += 1.0
    assert window_start(SETTINGS, cooldown, clock()) == cooldown.until
    after = assess(SETTINGS, "m", CallOutcomes(), previous=cooldown, now=clock())
    assert after is not None
    assert not after.active_at(clock())

    # Fresh failures after the re-admission cool it again, with the shorter span named.
    clock.now += 10.0
    again = assess(SETTINGS, "m", CallOutcomes(5, 5, "503"), previous=after, now=clock())
    assert again is not None
    assert again.active_at(clock())
    assert again.until == clock.now + 30.0
    assert "5 of 5 calls since it was re-admitted at 22:13:50 UTC failed" in again.reason


def test_no_exclusion_is_permanent_and_an_old_cooldown_is_forgotten() -> None:
    clock = FakeClock()
    cooldown = assess(SETTINGS, "m", CallOutcomes(9, 9, "down"), previous=None, now=clock())
    assert cooldown is not None
    clock.now = cooldown.until + SETTINGS.window_seconds
    # A full window after the re-admission, the cooldown no longer shapes anything.
    assert window_start(SETTINGS, cooldown, clock()) == clock.now - SETTINGS.window_seconds
    assert assess(SETTINGS, "m", CallOutcomes(9, 0), previous=cooldown, now=clock()) is None


def test_max_error_rate_one_never_cools_and_zero_cools_on_any_failure() -> None:
    off = HealthSettings(max_error_rate=1.0)
    assert assess(off, "m", CallOutcomes(100, 100, "down"), previous=None, now=0.0) is None
    strict = HealthSettings(max_error_rate=0.0)
    assert assess(strict, "m", CallOutcomes(100, 1, "down"), previous=None, now=0.0)
    assert assess(strict, "m", CallOutcomes(100, 0), previous=None, now=0.0) is None


def test_a_long_error_is_quoted_short() -> None:
    cooldown = assess(SETTINGS, "m", CallOutcomes(5, 5, "x" * 5000), previous=None, now=0.0)
    assert cooldown is not None
    assert len(cooldown.reason) < 300
    assert cooldown.reason.endswith("...').")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_seconds": 0.0}, "health window_seconds must be a number above 0"),
        ({"window_seconds": math.inf}, "health window_seconds must be a number above 0"),
        ({"window_seconds": 86_401.0}, "at most 86400, got 86401.0"),
        ({"cooldown_seconds": -1.0}, "health cooldown_seconds must be a number above 0"),
        ({"cooldown_seconds": math.nan}, "health cooldown_seconds"),
        ({"min_calls": 0}, "health min_calls must be a whole number from 1"),
        ({"min_calls": True}, "health min_calls must be a whole number from 1"),
        ({"min_calls": 2.5}, "health min_calls must be a whole number from 1"),
        ({"max_error_rate": 1.5}, "health max_error_rate must be a number from 0 to 1"),
        ({"max_error_rate": math.nan}, "health max_error_rate must be a number from 0 to 1"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HealthSettings(**kwargs)  # type: ignore[arg-type]


def test_outcomes_are_validated() -> None:
    with pytest.raises(ValueError, match="cannot have 3 failed calls out of 2"):
        CallOutcomes(calls=2, failures=3)
    with pytest.raises(ValueError, match="cannot be negative"):
        CallOutcomes(calls=-1)


def test_observation_needs_enough_samples() -> None:
    few = Usage(latencies_ms=(100.0,) * (MIN_LATENCY_SAMPLES - 1), output_tokens=(10, 20))
    assert observe(few, None, 0.0) == ModelObservation()
    assert observe(None, None, 0.0) == ModelObservation()
    latencies = tuple(float(v) for v in range(200, 0, -1))  # 1..200, newest first
    enough = Usage(latencies_ms=latencies, output_tokens=(10, 20, 30, 40, 50))
    observed = observe(enough, None, 0.0)
    assert observed.p95_latency_ms == 190.0
    assert observed.mean_output_tokens == 30.0
    assert not observed.cooling_at(0.0)


def test_observation_carries_only_an_active_cooldown() -> None:
    cooldown = Cooldown("m", started_at=0.0, until=30.0, reason="m is cooling down ...")
    assert observe(None, cooldown, 29.9).cooling_at(29.9)
    assert observe(None, cooldown, 29.9).cooldown_reason == "m is cooling down ..."
    assert observe(None, cooldown, 30.0) == ModelObservation()


def test_nearest_rank_is_an_observed_value() -> None:
    assert nearest_rank([5.0], 0.95) == 5.0
    assert nearest_rank([1.0, 2.0], 0.5) == 1.0
    assert nearest_rank([1.0, 2.0], 0.51) == 2.0
    with pytest.raises(ValueError, match="quantile must be in"):
        nearest_rank([1.0], 0.0)
