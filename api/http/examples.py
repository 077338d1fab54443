"""Request examples for the OpenAPI document: what a reader copies first, and what
Schemathesis replays. The ids name things a fresh installation can be given in one call
(``EXAMPLE_DECISION_ID`` is a client-chosen decision id)."""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example
from litestar.params import Body, Parameter

__all__ = [
    "EXAMPLE_DECISION_ID",
    "body_examples",
    "path_example",
]

EXAMPLE_DECISION_ID = "example-decision"

_BODIES: dict[str, list[tuple[str, Any]]] = {
    "route": [
        (
            "A prompt with caller features",
            {
                "policy": "default",
                "prompt": "Write a SQL query that finds duplicate emails.",
                "features": {"task": "code", "tenant": "acme"},
                "decision_id": EXAMPLE_DECISION_ID,
            },
        ),
        ("Only the policy", {"policy": "default"}),
        (
            "With constraints",
            {
                "policy": "default",
                "prompt": "Summarise this contract clause.",
                "max_cost_usd": 0.01,
                "max_latency_ms": 5000,
                "require": {"tier": "small"},
            },
        ),
    ],
    "feedback": [
        (
            "A judge's score with cost and latency",
            {
                "decision_id": EXAMPLE_DECISION_ID,
                "score": 0.9,
                "source": "judge",
                "cost_usd": 0.0004,
                "latency_ms": 820,
                "idempotency_key": "req-42-judge",
            },
        ),
        (
            "A reviewer's stars",
            {"decision_id": EXAMPLE_DECISION_ID, "stars": 4, "source": "reviewer"},
        ),
        ("A failed call", {"decision_id": EXAMPLE_DECISION_ID, "error": "HTTP 503 from provider"}),
        (
            "The application's report of a call, with its tokens",
            {
                "decision_id": EXAMPLE_DECISION_ID,
                "source": "app",
                "latency_ms": 820,
                "cost_usd": 0.0004,
                "input_tokens": 1200,
                "output_tokens": 340,
            },
        ),
    ],
    "model": [
        (
            "Prices and features",
            {
                "input_usd_per_mtok": 0.15,
                "output_usd_per_mtok": 0.6,
                "provider": "openai",
                "features": {"tier": "small"},
            },
        )
    ],
    "policy": [
        (
            "Two models, a cost weight",
            {"models": ["gpt-4o", "gpt-4o-mini"], "reward": {"cost_weight": 25}},
        ),
        (
            "Cool a model down for a minute when most of 10 calls in 2 minutes fail",
            {
                "models": ["gpt-4o", "gpt-4o-mini"],
                "health": {
                    "window_seconds": 120,
                    "min_calls": 10,
                    "max_error_rate": 0.5,
                    "cooldown_seconds": 60,
                },
            },
        ),
    ],
    "experiment": [
        (
            "Gate a model on the default policy",
            {"policy": "default", "candidate": "gpt-4o", "margin": 0.02},
        )
    ],
    "key": [
        (
            "An application's key for one policy",
            {"name": "acme-app", "scopes": ["route", "feedback"], "policies": ["default"]},
        )
    ],
}

_PATHS: dict[str, str] = {
    "decision_id": EXAMPLE_DECISION_ID,
    "model_id": "gpt-4o-mini",
    "name": "default",
}


def body_examples(kind: str) -> Any:
    """``Body(...)`` metadata with the examples of ``kind``, for ``Annotated[Struct, ...]``."""
    return Body(
        examples=[Example(summary=summary, value=value) for summary, value in _BODIES[kind]]
    )


def path_example(name: str) -> Any:
    """``Parameter(...)`` metadata giving path parameter ``name`` an example."""
    return Parameter(examples=[Example(value=_PATHS[name])])
