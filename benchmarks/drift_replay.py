"""A model silently gets worse mid-stream: how many events until the router moves away?

    .venv/bin/python benchmarks/drift_replay.py \
        ../shared/data/routerbench_5shot_subset/routerbench_5shot_subset.jsonl.gz --seeds 0 1 2 3 4

The replay streams the RouterBench training prompts (holdout excluded, 3 shuffled passes) with
bandit feedback at cost weight 0, where the best model (GPT-4) takes most of the traffic. Half
way through, its answers are silently replaced by a weak model's (mistral-7b's outcomes on the
same prompts: the provider swapped the model). For each policy setting the script reports the
events after the change until the degraded model's share over the next 100 events first falls
below a fifth of its share over the 500 events before the change, how often it was still chosen
after the change, and the mean quality over the 2,000 events after the change. Medians over
seeds; every setting runs on the same streams.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from api.replay.dataset import load_dataset
from api.replay.runner import ReplayOptions, featurise, replay_arms
from bandit.factory import make_policy
from bandit.learner import Learner
from bandit.replay import ReplayEvent, in_holdout
from bandit.settings import ExplorationSettings
from bandit.types import Interaction
from features import ARM_NAMESPACES, CONTEXT_NAMESPACES, WordLlamaEmbedder

DEGRADED = "gpt-4-1106-preview"
REPLACEMENT = "mistralai/mistral-7b-chat"
WINDOW = 100
#: "Moved away": its share over the next WINDOW events below this fraction of its share over
#: the BEFORE events before the change.
THRESHOLD = 0.2
BEFORE = 500
AFTER = 2000


def run(
    events: list[ReplayEvent], settings: ExplorationSettings, seed: int
) -> tuple[float, int, int, float]:
    arms = replay_arms(sorted(events[0].outcomes))
    learner = Learner(
        make_policy(settings, context_namespaces=CONTEXT_NAMESPACES, arm_namespaces=ARM_NAMESPACES)
    )
    rng = np.random.default_rng(seed)
    stream = [events[int(i)] for _ in range(3) for i in rng.permutation(len(events))]
    change = len(stream) // 2
    chosen: list[str] = []
    qualities: list[float] = []
    for index, event in enumerate(stream):
        outcomes = event.outcomes
        if index >= change:
            outcomes = {**outcomes, DEGRADED: outcomes[REPLACEMENT]}
        decision = learner.decide(f"{seed}:{index}", event.context, arms)
        outcome = outcomes[decision.model]
        learner.learn(
            Interaction(event.context, arms, decision.chosen, decision.propensity, outcome.quality)
        )
        chosen.append(decision.model)
        qualities.append(outcome.quality)
    before = chosen[change - BEFORE : change].count(DEGRADED) / BEFORE
    degraded = np.array([model == DEGRADED for model in chosen[change:]], dtype=float)
    forward_share = np.convolve(degraded, np.ones(WINDOW) / WINDOW, mode="valid")
    below = np.flatnonzero(forward_share < THRESHOLD * before)
    moved_after = int(below[0]) if below.size else len(degraded)
    after = qualities[change : change + AFTER]
    return before, moved_after, int(degraded.sum()), sum(after) / len(after)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()
    rows = load_dataset(args.dataset)
    options = ReplayOptions()
    events = featurise(rows, options, WordLlamaEmbedder())
    settings = {
        "default (learning_rate_decay 0.5)": ExplorationSettings(),
        "forgetting (learning_rate_decay 0)": ExplorationSettings(learning_rate_decay=0.0),
        "forgetting (learning_rate_decay 0.25)": ExplorationSettings(learning_rate_decay=0.25),
    }
    print(
        f"{DEGRADED} silently becomes {REPLACEMENT} half way through 3 passes "
        f"(median over seeds {args.seeds}):"
    )
    for name, setting in settings.items():
        shares, moved, picks, quality = [], [], [], []
        for seed in args.seeds:
            train = [e for e in events if not in_holdout(e.id, seed, 0.3)]
            s, m, p, q = run(train, replace(setting, seed=seed), seed)
            shares.append(s)
            moved.append(m)
            picks.append(p)
            quality.append(q)
        print(
            f"- {name}: share before the change {statistics.median(shares):.0%}; its share "
            f"over the next {WINDOW} events fell below {THRESHOLD:.0%} of that "
            f"{statistics.median(moved):,.0f} events after the change (per seed {moved}); "
            f"still chosen {statistics.median(picks):,.0f} times after it (per seed {picks}); "
            f"quality over the next {AFTER} events {statistics.median(quality):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
