"""Field types every feature's structs share, and the error answer."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from bandit.eligibility import MAX_REQUIRED_TAGS
from bandit.limits import (
    MAX_ANSWER_CHARS,
    MAX_COST_USD,
    MAX_LATENCY_MS,
    MAX_TOKENS,
    MAX_USD_PER_MTOK,
)
from bandit.reward import (
    MAX_REWARD_MAGNITUDE,
)

__all__ = [
    "AnswerText",
    "ChatTurnOut",
    "CostUsd",
    "ErrorOut",
    "FeatureValue",
    "Features",
    "Identifier",
    "LatencyMs",
    "MaxCostUsd",
    "MaxLatencyMs",
    "NonNegative",
    "Positive",
    "Price",
    "Rate",
    "Require",
    "RewardValue",
    "Tokens",
    "Unit",
]

NonNegative = Annotated[float, Meta(ge=0.0)]

RewardValue = Annotated[
    float,
    Meta(
        ge=-MAX_REWARD_MAGNITUDE,
        le=MAX_REWARD_MAGNITUDE,
        description=f"A reward, at most {MAX_REWARD_MAGNITUDE:g} in magnitude.",
    ),
]

CostUsd = Annotated[
    float, Meta(ge=0.0, le=MAX_COST_USD, description=f"USD of one call, 0 to {MAX_COST_USD:g}.")
]

LatencyMs = Annotated[
    float,
    Meta(
        ge=0.0,
        le=MAX_LATENCY_MS,
        description=f"Milliseconds of one call, 0 to {MAX_LATENCY_MS:g} (one hour).",
    ),
]

Price = Annotated[
    float,
    Meta(
        ge=0.0,
        le=MAX_USD_PER_MTOK,
        description=f"USD per million tokens, 0 to {MAX_USD_PER_MTOK:g}.",
    ),
]

Tokens = Annotated[
    int, Meta(ge=0, le=MAX_TOKENS, description=f"Tokens of one call, 0 to {MAX_TOKENS}.")
]

Identifier = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[^\s/]+$")]

FeatureValue = str | float | bool

Features = Annotated[dict[str, FeatureValue], Meta(max_length=64)]

MaxCostUsd = Annotated[
    float,
    Meta(
        gt=0.0,
        le=MAX_COST_USD,
        description="Models whose estimated cost for this prompt (its tokens at the input "
        "price plus the model's observed output length at the output price) is above this "
        "are not eligible.",
    ),
]

MaxLatencyMs = Annotated[
    float,
    Meta(
        gt=0.0,
        le=MAX_LATENCY_MS,
        description="Models whose observed p95 latency is above this are not eligible "
        "(a model not yet observed is).",
    ),
]

Require = Annotated[
    dict[str, FeatureValue],
    Meta(
        max_length=MAX_REQUIRED_TAGS,
        description='Tags a model must carry in its features, e.g. {"region": "eu"}.',
    ),
]

Unit = Annotated[float, Meta(ge=0.0, le=1.0)]

AnswerText = Annotated[str, Meta(max_length=MAX_ANSWER_CHARS)]


class ErrorOut(Struct):
    """Every error answer: the status and a sentence naming the problem."""

    status_code: int
    detail: str
    extra: Any = None


Rate = Annotated[float, Meta(ge=0.0, le=1.0)]

Positive = Annotated[float, Meta(gt=0.0)]


class ChatTurnOut(Struct):
    """One message of a chat conversation: its role (system, user, assistant, tool, ...) and
    its text (a tool call written out as ``[tool call] name(arguments)``)."""

    role: str
    text: str
