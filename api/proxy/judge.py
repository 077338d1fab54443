"""A judge model's question about an answer, its reply read as a grade, and the grader that
asks it through the provider layer (a policy's live judge and a cascade's judge both use it)."""

from __future__ import annotations

import re
from typing import Any

from api.proxy.calls import ModelCalls
from api.proxy.chat import answer_text
from api.proxy.cost import call_cost
from api.service.catalog import Catalog
from api.service.judging import Grade
from bandit.judge import JudgeSettings

__all__ = ["JUDGE_INSTRUCTIONS", "ProviderGrader", "judge_body", "judge_score"]

JUDGE_INSTRUCTIONS = (
    "You grade answers. Read the conversation and the answer given to its last message. "
    "Reply with one whole number from 0 (wrong or useless) to 10 (correct and complete), "
    "and nothing else."
)
#: Said after an operator's rubric, so that any rubric still yields a grade this reads.
_REPLY_FORMAT = "Reply with one whole number from 0 to 10, and nothing else."
_NUMBER = re.compile(r"\b(10|[0-9])(?:\s*/\s*10)?\b")
#: The prompt and answer a judge sees are cut to this many characters each.
_MAX_CHARS = 32_000


def judge_body(prompt: str, answer: str, instructions: str | None = None) -> dict[str, Any]:
    """The chat request that asks a judge model to grade ``answer`` (``instructions``: the
    operator's rubric, in place of the generic one)."""
    system = JUDGE_INSTRUCTIONS if instructions is None else f"{instructions}\n\n{_REPLY_FORMAT}"
    return {
        "messages": [
            {"role": "system", "content": system},
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


class ProviderGrader:
    """A ``Grader`` (``api.service.judging``) that calls the judge model like any model: its
    endpoint, its key, retries with backoff; one that still fails raises ``ProviderError``."""

    def __init__(self, catalog: Catalog, calls: ModelCalls) -> None:
        self._catalog = catalog
        self._calls = calls

    async def grade(self, judge: JudgeSettings, conversation: str, answer: str) -> Grade:
        model = self._catalog.model(judge.model)
        body = judge_body(conversation, answer, judge.instructions)
        started = await self._calls.call(model, body, stream=False, seed=f"judge:{model.id}")
        assert started.completion is not None
        reply = answer_text(started.completion.body)
        return Grade(judge_score(reply), call_cost(model, started.completion.usage))
