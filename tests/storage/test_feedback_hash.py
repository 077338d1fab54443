"""The payload hash tells an idempotent retry from different feedback under the same key. It
is stored, so it must not change: these digests were computed by the version that stored the
first feedback rows, field by field."""

from __future__ import annotations

import pytest

from domain import FeedbackInput
from storage.feedback import payload_hash


@pytest.mark.parametrize(
    ("feedback", "digest"),
    [
        (
            FeedbackInput("d", "user", 0.5),
            "476039ab4f6cdf0b293dfd7b0a8c011c16df80bd5070e8503d2bc39f2984d3e8",
        ),
        (
            FeedbackInput("d", "judge", None, 0.01, 120.0, "timeout", "k", fallback=True),
            "ced08f0f4eb320900d7ef22417bc4bbf633ad90db87a34f936de0cd7bfb7260c",
        ),
        (
            FeedbackInput(
                "d",
                "reviewer",
                1.0,
                reviewer="ann",
                comment="good",
                input_tokens=10,
                output_tokens=20,
            ),
            "18daa00259d919d96329c3ab5c98ff88fd52d2150419c602bd2067795f637de5",
        ),
    ],
)
def test_the_payload_hash_of_stored_feedback_never_changes(
    feedback: FeedbackInput, digest: str
) -> None:
    assert payload_hash(feedback) == digest


def test_a_different_payload_hashes_differently() -> None:
    assert payload_hash(FeedbackInput("d", "user", 0.5)) != payload_hash(
        FeedbackInput("d", "user", 0.5, comment="late thought")
    )
