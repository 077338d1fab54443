"""How far can a router get on a replay dataset with the features it has?

    .venv/bin/python benchmarks/task_ceiling.py \
        ../shared/data/routerbench_5shot_subset/routerbench_5shot_subset.jsonl.gz

Two full-information diagnostics, relative to the best single model:

1. Per-task routing: every prompt of a task goes to the model with the best mean
   ``quality - W * cost_usd`` for that task, with the means taken over the whole dataset
   (in-sample, so an upper bound for any router that tells tasks apart and nothing more).
2. Prompt signal within a task: out-of-fold (5 folds, seeded) ridge regressions from the
   WordLlama prompt embedding to how much better the best model answers a prompt than a cheap
   runner-up. A correlation near 0 means the embedding cannot tell which prompts of that task
   the cheap model gets right, so no router on these features can do better than per-task
   routing there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from api.replay.dataset import load_dataset
from features import WordLlamaEmbedder

WEIGHTS = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 80.0)
FOLDS = 5
RIDGE = 10.0


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = load_dataset(Path(args.dataset))
    models = sorted(rows[0].outcomes)
    by_task: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_task[row.source or "(none)"].append(index)

    def mean_of(indices: list[int], model: str, field: str) -> float:
        return _mean([getattr(rows[i].outcomes[model], field) for i in indices])

    everything = list(range(len(rows)))
    best = max(
        models,
        key=lambda m: (mean_of(everything, m, "quality"), -mean_of(everything, m, "cost_usd")),
    )
    best_quality = mean_of(everything, best, "quality")
    best_cost = mean_of(everything, best, "cost_usd")
    print(f"{len(rows)} prompts, {len(models)} models; best single model {best}")
    print("\nPer-task routing (in-sample means), relative to the best single model:")
    for weight in WEIGHTS:
        quality = cost = 0.0
        choice = {}
        for task, indices in by_task.items():
            model = max(
                models,
                key=lambda m: (
                    mean_of(indices, m, "quality") - weight * mean_of(indices, m, "cost_usd")
                ),
            )
            choice[task] = model
            share = len(indices) / len(rows)
            quality += share * mean_of(indices, model, "quality")
            cost += share * mean_of(indices, model, "cost_usd")
        routes = ", ".join(f"{task} -> {model}" for task, model in sorted(choice.items()))
        print(
            f"  W={weight:>4g}: quality {quality / best_quality:6.1%}, "
            f"cost {cost / best_cost:6.1%}  ({routes})"
        )

    embedder = WordLlamaEmbedder()
    rng = np.random.default_rng(args.seed)
    print(f"\nPrompt signal within each task (out-of-fold ridge on the embedding, {FOLDS} folds):")
    for task, indices in sorted(by_task.items()):
        # The cheap runner-up: the best model of the task among those costing under a fifth
        # of the task's best model.
        top = max(models, key=lambda m: mean_of(indices, m, "quality"))
        cheap_models = [
            m
            for m in models
            if mean_of(indices, m, "cost_usd") < mean_of(indices, top, "cost_usd") / 5
        ]
        if not cheap_models:
            continue
        cheap = max(cheap_models, key=lambda m: mean_of(indices, m, "quality"))
        gain = np.array(
            [rows[i].outcomes[top].quality - rows[i].outcomes[cheap].quality for i in indices]
        )
        features = np.asarray(embedder.embed([rows[i].prompt for i in indices]), dtype=np.float64)
        features = np.hstack([features, np.ones((len(indices), 1))])
        predicted = np.zeros(len(indices))
        order = rng.permutation(len(indices))
        for fold in np.array_split(order, FOLDS):
            train = np.setdiff1d(order, fold)
            x, y = features[train], gain[train]
            weights = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ y)
            predicted[fold] = features[fold] @ weights
        correlation = float(np.corrcoef(predicted, gain)[0, 1])
        lowest = gain[np.argsort(predicted)[: len(indices) // 5]].mean()
        print(
            f"  {task}: {top} over {cheap}: mean gain {gain.mean():.3f}; correlation of the "
            f"out-of-fold prediction {correlation:+.3f}; mean gain on the fifth predicted "
            f"lowest {lowest:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
