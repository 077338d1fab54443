"""A judge model's question about a first answer, and its reply read as a score in [0, 1]."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["JUDGE_INSTRUCTIONS", "judge_body", "judge_score"]

JUDGE_INSTRUCTIONS = (
    "You grade answers. Read the conversation and the answer given to its last message. "
    "Reply with one whole number from 0 (wrong or useless) to 10 (correct and complete), "
    "and nothing else."
)
_NUMBER = re.compile(r"\b(10|[0-9])(?:\s*/\s*10)?\b")
#: The prompt and answer a judge sees are cut to this many characters each.
_MAX_CHARS = 32_000


def judge_body(prompt: str, answer: str) -> dict[str, Any]:
    """The chat request that asks a judge model to grade ``answer``."""
    return {
        "messages": [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {
                "role": "user",
                "content": f"Conversation:\n{prompt[-_MAX_CHARS:]}\n\n"
                f"Answer:\n{answer[:_MAX_CHARS]}\n\nGrade (0-10):",
            },
        ],
        "max_tokens": 5,
        "temperature": 0,
    }


def judge_score(reply: str) -> float | None:
    """The first grade 0..10 in the judge's reply, scaled to [0, 1]; None when there is none.

    >>> judge_score("7"), judge_score("Grade: 10/10"), judge_score("no idea")
    (0.7, 1.0, None)
    """
    found = _NUMBER.search(reply)
    return None if found is None else int(found.group(1)) / 10
