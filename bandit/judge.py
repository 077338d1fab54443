"""A policy's judge: a model that grades a sample of live answers, and which answers it grades.

The sample is drawn like the review sample (``bandit.review``): a hash of the decision id, so
every process and a replay agree on it, and each sampled decision stores its inclusion
probability. Being sampled never depends on the answer: a sampled call that failed is learned
with the error reward, a sampled answer with the judge's grade, so what is learned stays a
representative sample of what was routed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from bandit.limits import MAX_JUDGE_INSTRUCTIONS, MAX_JUDGE_USD_PER_HOUR

__all__ = ["JUDGE_SOURCE", "JudgeSettings", "judge_draw", "sample_for_judge"]

#: The feedback source of a judge model's grade.
JUDGE_SOURCE = "judge"


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """Grade ``sample_rate`` of the policy's answers with catalog ``model`` (which needs an
    endpoint), spending at most ``max_usd_per_hour`` on it; ``instructions`` is the rubric
    (None: a generic 0-10 grade of correctness and completeness).

    >>> JudgeSettings("gpt-4o", sample_rate=0.25).sample_rate
    0.25
    >>> JudgeSettings("gpt-4o", sample_rate=1.5)
    Traceback (most recent call last):
    ...
    ValueError: judge sample_rate must be a number between 0 and 1, got 1.5.
    """

    model: str
    sample_rate: float = 0.1
    max_usd_per_hour: float = 1.0
    instructions: str | None = None

    def __post_init__(self) -> None:
        if not self.model or len(self.model) > 128:
            raise ValueError(f"judge model must be a catalog model id, got {self.model!r}.")
        rate = self.sample_rate
        if isinstance(rate, bool) or not (math.isfinite(rate) and 0.0 <= rate <= 1.0):
            raise ValueError(f"judge sample_rate must be a number between 0 and 1, got {rate!r}.")
        cap = self.max_usd_per_hour
        if isinstance(cap, bool) or not (
            math.isfinite(cap) and 0.0 <= cap <= MAX_JUDGE_USD_PER_HOUR
        ):
            raise ValueError(
                f"judge max_usd_per_hour must be a number between 0 and "
                f"{MAX_JUDGE_USD_PER_HOUR:g}, got {cap!r}."
            )
        if self.instructions is not None and len(self.instructions) > MAX_JUDGE_INSTRUCTIONS:
            raise ValueError(
                f"judge instructions may be at most {MAX_JUDGE_INSTRUCTIONS} characters, "
                f"got {len(self.instructions)}."
            )


def judge_draw(decision_id: str) -> float:
    """A uniform number in [0, 1) fixed by the decision id, independent of the review draw.

    >>> judge_draw("d-1") == judge_draw("d-1")
    True
    """
    digest = hashlib.sha256(b"judge:" + decision_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sample_for_judge(settings: JudgeSettings | None, decision_id: str) -> float | None:
    """The decision's inclusion probability when the judge is to grade it, else None.

    >>> sample_for_judge(JudgeSettings("j", sample_rate=1.0), "d-1")
    1.0
    >>> sample_for_judge(None, "d-1") is None
    True
    """
    if settings is None or settings.sample_rate <= 0.0:
        return None
    return settings.sample_rate if judge_draw(decision_id) < settings.sample_rate else None
