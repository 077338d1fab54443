"""Feedback as sent and as stored."""

from __future__ import annotations

import msgspec

from api.http import schemas
from api.http.convert._derive import finite, same_fields
from bandit.errors import InvalidInputError
from domain import (
    FeedbackInput,
    FeedbackRecord,
)

__all__ = ["feedback_in", "feedback_out"]


def feedback_in(body: schemas.FeedbackIn) -> FeedbackInput:
    if body.score is not None and body.stars is not None:
        raise InvalidInputError("Send either score or stars, not both.")
    score = (body.stars - 1) / 4 if body.stars is not None else finite("score", body.score)
    if (
        score is None
        and body.cost_usd is None
        and body.latency_ms is None
        and body.error is None
        and body.input_tokens is None
        and body.output_tokens is None
        and not body.fallback
    ):
        raise InvalidInputError(
            "Feedback must carry at least one of score, stars, cost_usd, latency_ms, error, "
            "input_tokens, output_tokens or fallback."
        )
    sent = msgspec.structs.asdict(body)
    del sent["stars"]
    sent.update(
        score=score,
        cost_usd=finite("cost_usd", body.cost_usd),
        latency_ms=finite("latency_ms", body.latency_ms),
    )
    return FeedbackInput(**sent)


def feedback_out(record: FeedbackRecord) -> schemas.FeedbackOut:
    return schemas.FeedbackOut(
        **same_fields(record, schemas.FeedbackOut, but=("feedback_id", "duplicate")),
        feedback_id=record.id,
        duplicate=not record.created,
    )
