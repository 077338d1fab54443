"""Langfuse scores as router scores: the source mapping and the scaling into [0, 1]."""

from __future__ import annotations

import pytest

from api.integrations.langfuse_scores import ConfigRange, feedback_source, scaled_score
from api.settings import DEFAULT_SCORE_SOURCES

STARS = ConfigRange(min_value=1.0, max_value=5.0, categories={})
LABELS = ConfigRange(None, None, {"bad": 0.0, "ok": 1.0, "good": 2.0})


@pytest.mark.parametrize(
    ("name", "source", "expected"),
    [
        ("anything", "ANNOTATION", "reviewer"),
        ("anything", "EVAL", "judge"),
        ("anything", "API", "user"),
        ("toxicity", "EVAL", "safety"),  # by name
        ("helpful", "EVAL", "helpfulness-judge"),  # by name and source, before the name
        ("helpful", "API", "user"),
    ],
)
def test_the_source_comes_from_name_and_source(name: str, source: str, expected: str) -> None:
    sources = {
        **DEFAULT_SCORE_SOURCES,
        "toxicity": "safety",
        "helpful/EVAL": "helpfulness-judge",
    }
    assert feedback_source(sources, name=name, source=source) == expected


def test_an_unmapped_source_is_not_imported() -> None:
    assert feedback_source({"EVAL": "judge"}, name="x", source="ANNOTATION") is None


@pytest.mark.parametrize(
    ("data_type", "value", "label", "config", "categories", "expected"),
    [
        ("NUMERIC", 1.0, None, STARS, {}, 0.0),
        ("NUMERIC", 4.0, None, STARS, {}, 0.75),
        ("NUMERIC", 5.0, None, STARS, {}, 1.0),
        ("NUMERIC", 6.0, None, STARS, {}, None),  # outside its own config
        ("NUMERIC", 0.3, None, None, {}, 0.3),  # no config, already in [0, 1]
        ("NUMERIC", 3.0, None, None, {}, None),  # no config, outside [0, 1]
        ("NUMERIC", -0.1, None, None, {}, None),
        ("BOOLEAN", 1.0, "True", None, {}, 1.0),
        ("BOOLEAN", 0.0, "False", None, {}, 0.0),
        ("BOOLEAN", 0.0, "False", None, {"False": 0.2}, 0.2),  # through the mapping
        ("CATEGORICAL", 2.0, "good", LABELS, {}, 1.0),
        ("CATEGORICAL", 1.0, "ok", LABELS, {}, 0.5),
        ("CATEGORICAL", 1.0, "ok", LABELS, {"ok": 0.7}, 0.7),  # the mapping wins
        ("CATEGORICAL", 1.0, "ok", None, {}, None),  # no config, no mapping
        ("CATEGORICAL", 1.0, "ok", LABELS, {"ok": 7.0}, None),  # a mapping outside [0, 1]
        ("TEXT", 0.0, "nice", None, {}, None),
    ],
)
def test_values_are_scaled_into_the_unit_interval(
    data_type: str,
    value: float,
    label: str | None,
    config: ConfigRange | None,
    categories: dict[str, float],
    expected: float | None,
) -> None:
    assert (
        scaled_score(
            data_type=data_type, value=value, label=label, config=config, categories=categories
        )
        == expected
    )
