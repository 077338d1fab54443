"""Learning from a judge alone: what a policy behind the OpenAI-compatible endpoint learns
with no feedback from the caller, over several seeds, and the same traffic with no judge.

    PYTHONPATH=. /work/main/.venv/bin/python benchmarks/judge_learning.py --seeds 3

Starts the fake providers (tests/proxy_fake.py: three models whose hidden quality depends on
the task named in the prompt, and a judge that grades their answers) and the real
``bandit-router serve`` on a fresh SQLite file, then per seed routes ``--requests`` chat
requests through the official ``openai`` SDK on a new policy with a judge at
``--sample-rate`` and a 1 USD hourly cap, and the same number with no judge. Prints, per seed,
the share of the last 400 requests that went to each task's best model, the interactions
learned, the judge's grades and spend (kept apart from the routed calls' cost), and the
medians over seeds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import httpx
import openai

from tests.judge_learning import drive, register_models
from tests.proxy_world import KEY_ENV, proxy_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--sample-rate", type=float, default=0.25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, proxy_world(Path(tmp)) as world:
        register_models(world.http, world.fake, KEY_ENV)
        _report(world.http, world.sdk, args)


def _report(http: httpx.Client, sdk: openai.OpenAI, args: argparse.Namespace) -> None:
    worst: list[float] = []
    print(
        f"{'seed':>4} {'judge':>6} {'code':>6} {'math':>6} {'chat':>6} {'learned':>8} "
        f"{'graded':>7} {'shed':>5} {'spend USD':>10} {'req/s':>6}"
    )
    for seed in range(args.seeds):
        for rate in (args.sample_rate, None):
            run = drive(http, sdk, requests=args.requests, sample_rate=rate, seed=seed)
            judge = run.status["quality_signal"]["judge"] or {}
            share = run.best_share
            print(
                f"{seed:>4} {'on' if rate else 'off':>6} {share['code']:>6.2f} "
                f"{share['math']:>6.2f} {share['chat']:>6.2f} {run.learned:>8} "
                f"{judge.get('graded', 0):>7} {judge.get('shed', 0):>5} "
                f"{judge.get('spend_usd_last_hour', 0.0):>10.4f} "
                f"{run.requests / run.seconds:>6.0f}"
            )
            if rate:
                worst.append(min(share.values()))
            else:
                print(f"       status: {run.status['quality_signal']['warning']}")
    print(
        f"median over seeds of the worst task's best-model share (judge on, last 400): "
        f"{statistics.median(worst):.2f}"
    )


if __name__ == "__main__":
    main()
