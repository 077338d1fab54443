"""Drive proxied traffic with no application feedback and see what a policy learns from its
judge alone: three fake models whose quality depends on the task named in the prompt, a fake
judge that grades their answers (tests/proxy_fake.py), and the official ``openai`` SDK.

The acceptance test (tests/api/proxy/test_judge_learning.py) and the benchmark
(benchmarks/judge_learning.py) both run ``drive``.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import openai

from tests.proxy_fake import HIDDEN_QUALITY, TASKS, FakeProviders, best_model

__all__ = ["JUDGE_PRICES", "LearningRun", "drive", "register_models"]

#: The graded models cost the same, so quality alone decides; the judge is dearer.
MODEL_PRICES = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
JUDGE_PRICES = {"input_usd_per_mtok": 5.0, "output_usd_per_mtok": 15.0}
_FILLER = (
    "please",
    "help",
    "me",
    "with",
    "this",
    "request",
    "about",
    "the",
    "thing",
    "we",
    "discussed",
    "earlier",
    "today",
)


@dataclass(frozen=True, slots=True)
class LearningRun:
    policy: str
    requests: int
    #: Per task, the share of the last ``tail`` requests that went to the task's best model.
    best_share: dict[str, float]
    tail: int
    learned: int
    #: The policy as ``GET /v1/policies/{name}`` shows it at the end.
    status: dict[str, Any]
    warnings: list[str]
    seconds: float


def register_models(http: httpx.Client, fake: FakeProviders, key_env: str) -> None:
    """The three graded models and the judge, each with an endpoint at the fake."""
    for name in [*HIDDEN_QUALITY, "judge"]:
        endpoint_model = "judge" if name == "judge" else f"graded={name}"
        prices = JUDGE_PRICES if name == "judge" else MODEL_PRICES
        response = http.put(
            f"/v1/models/{name}",
            json={
                **prices,
                "provider": "fake",
                "endpoint": {
                    "api": "openai",
                    "base_url": fake.openai_base_url,
                    "model": endpoint_model,
                    "api_key_env": key_env,
                },
            },
        )
        response.raise_for_status()


def drive(
    http: httpx.Client,
    sdk: openai.OpenAI,
    *,
    requests: int,
    sample_rate: float | None,
    seed: int,
    tail: int = 400,
    max_usd_per_hour: float = 1.0,
) -> LearningRun:
    """Route ``requests`` chat requests through a new policy over the graded models, with a
    judge at ``sample_rate`` (None: no judge) and no feedback from the caller."""
    policy = f"judged-{uuid.uuid4().hex[:8]}"
    config: dict[str, Any] = {"models": list(HIDDEN_QUALITY)}
    if sample_rate is not None:
        config["judge"] = {
            "model": "judge",
            "sample_rate": sample_rate,
            "max_usd_per_hour": max_usd_per_hour,
        }
    http.put(f"/v1/policies/{policy}", json=config).raise_for_status()
    rng = random.Random(seed)
    chosen: list[tuple[str, str]] = []
    began = time.monotonic()
    for _ in range(requests):
        task = rng.choice(TASKS)
        words = " ".join(rng.sample(_FILLER, 5))
        raw = sdk.chat.completions.with_raw_response.create(
            model=f"router/{policy}",
            messages=[{"role": "user", "content": f"task={task} {words}"}],
        )
        chosen.append((task, raw.headers["x-bandit-router-model"]))
    seconds = time.monotonic() - began
    last = chosen[-tail:]
    share = {
        task: _share([model for t, model in last if t == task], best_model(task)) for task in TASKS
    }
    time.sleep(2.0)  # the last grades and one learning round
    status = http.get(f"/v1/policies/{policy}").json()
    warnings = http.get("/v1/status").json()["warnings"]
    return LearningRun(
        policy=policy,
        requests=requests,
        best_share=share,
        tail=tail,
        learned=status["learner"]["learned_interactions"],
        status=status,
        warnings=[w for w in warnings if repr(policy) in w],
        seconds=seconds,
    )


def _share(models: list[str], best: str) -> float:
    return Counter(models)[best] / len(models) if models else 0.0
