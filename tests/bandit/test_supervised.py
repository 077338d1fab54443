"""The full-information ridge reference learns a known rule."""

from __future__ import annotations

import numpy as np

from bandit.supervised import FeatureHasher, RidgeRouter
from bandit.types import Context, Namespace


def test_ridge_router_learns_which_model_fits_which_task() -> None:
    rng = np.random.default_rng(5)
    tasks = [str(rng.choice(["code", "chat"])) for _ in range(400)]
    contexts = [Context((Namespace("caller", ((f"task={t}", 1.0),)),)) for t in tasks]
    hasher = FeatureHasher(dimensions=64)
    matrix = hasher.transform(contexts)
    assert matrix.shape == (400, 65)
    quality = {
        "coder": [0.9 if t == "code" else 0.3 for t in tasks],
        "chatter": [0.3 if t == "code" else 0.8 for t in tasks],
    }
    cost = {"coder": [0.01] * 400, "chatter": [0.001] * 400}
    router = RidgeRouter().fit(matrix, quality, cost)
    probes = hasher.transform(
        [
            Context((Namespace("caller", (("task=code", 1.0),)),)),
            Context((Namespace("caller", (("task=chat", 1.0),)),)),
        ]
    )
    assert router.choose(probes, ["coder", "chatter"], cost_weight=0.0) == ["coder", "chatter"]
    # At a high price of cost the cheap model wins everywhere.
    assert router.choose(probes, ["coder", "chatter"], cost_weight=200.0) == ["chatter"] * 2
