"""The judge's sample (``bandit.judge``): a stable draw at the policy's rate, independent of
the review sample, and settings checked with a sentence naming the field."""

from __future__ import annotations

import math

import pytest

from bandit.judge import JudgeSettings, judge_draw, sample_for_judge
from bandit.review import review_draw


def test_the_sample_holds_about_its_rate_and_stores_it() -> None:
    settings = JudgeSettings("judge", sample_rate=0.25)
    drawn = [sample_for_judge(settings, f"d-{i}") for i in range(20_000)]

    sampled = [p for p in drawn if p is not None]
    assert abs(len(sampled) / len(drawn) - 0.25) < 0.015
    assert set(sampled) == {0.25}


def test_the_draw_is_stable_and_not_the_review_draw() -> None:
    ids = [f"d-{i}" for i in range(2000)]

    assert [judge_draw(i) for i in ids] == [judge_draw(i) for i in ids]
    # Independent of the review draw: being reviewed says nothing about being judged.
    both = sum(judge_draw(i) < 0.5 and review_draw(i) < 0.5 for i in ids)
    assert abs(both / len(ids) - 0.25) < 0.04


def test_rate_zero_samples_nothing_and_one_samples_everything() -> None:
    assert sample_for_judge(JudgeSettings("j", sample_rate=0.0), "d") is None
    assert all(sample_for_judge(JudgeSettings("j", sample_rate=1.0), f"{i}") for i in range(100))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_rate", 1.5),
        ("sample_rate", -0.1),
        ("sample_rate", math.nan),
        ("sample_rate", True),
        ("max_usd_per_hour", -1.0),
        ("max_usd_per_hour", math.inf),
        ("max_usd_per_hour", 1e9),
    ],
)
def test_bad_settings_name_their_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"judge {field} must be") as error:
        JudgeSettings("judge", **{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(error.value)


def test_a_judge_needs_a_model_and_a_rubric_of_bounded_length() -> None:
    with pytest.raises(ValueError, match="judge model"):
        JudgeSettings("")
    with pytest.raises(ValueError, match="instructions may be at most"):
        JudgeSettings("judge", instructions="x" * 100_000)
