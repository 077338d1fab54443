"""The full-information ceiling of an agreement cascade: what escalation could reach at best.

    .venv/bin/python benchmarks/cascade_ceiling.py \
        ../shared/data/routerbench_5shot_subset/routerbench_5shot_subset_responses.jsonl.gz

A reference, never an input: with every model's outcome known, group the prompts into cells
by task and by what the router's signal code (:mod:`features.signals`) reads from the answers,
then escalate whole cells in order of quality gained per USD until the cost reaches each
budget (the last cell in part). First model per task: the best cheap model of the task, as the
learned first stage picks; the probe is called on every prompt, as in the learned cascade.
"""

from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from pathlib import Path

from api.replay.dataset import load_dataset
from features.signals import answers_agree, final_answer


def _shape(answer: str) -> str:
    """The choice made, or only the kind of answer (a text digest would single out prompts)."""
    final = final_answer(answer)
    return final if final.startswith("choice:") else final.partition(":")[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument(
        "--first", nargs="+", default=["zero-one-ai/Yi-34B-Chat", "gpt-3.5-turbo-1106"]
    )
    parser.add_argument("--probe", default="mistralai/mixtral-8x7b-chat")
    parser.add_argument("--strong", default="gpt-4-1106-preview")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.15, 0.2, 0.25, 0.3])
    args = parser.parse_args()
    rows = load_dataset(args.dataset)
    n = len(rows)
    by_task: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_task[row.source].append(index)
    first = {
        task: max(args.first, key=lambda m: sum(rows[i].outcomes[m].quality for i in items))
        for task, items in by_task.items()
    }
    strong_q = sum(r.outcomes[args.strong].quality for r in rows) / n
    strong_c = sum(r.outcomes[args.strong].cost_usd for r in rows) / n
    for cells_of in ("agreement", "choices"):
        quality = cost = 0.0
        cells: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
        for row in rows:
            model = first[row.source]
            answer, probe = row.responses[model], row.responses[args.probe]
            quality += row.outcomes[model].quality
            cost += row.outcomes[model].cost_usd + row.outcomes[args.probe].cost_usd
            if cells_of == "agreement":
                key = (row.source, _shape(answer), str(answers_agree(answer, probe)))
            else:
                key = (row.source, _shape(answer), _shape(probe))
            gain = row.outcomes[args.strong].quality - row.outcomes[model].quality
            cells[key][0] += gain
            cells[key][1] += row.outcomes[args.strong].cost_usd
        points = [(cost / n, quality / n)]
        for gain, extra in sorted(cells.values(), key=lambda c: -c[0] / c[1]):
            if gain <= 0:
                break
            quality, cost = quality + gain, cost + extra
            points.append((cost / n, quality / n))
        reached = []
        for budget in args.budgets:
            target = budget * strong_c
            best = points[0][1] if points[0][0] <= target else None
            for (c0, q0), (c1, q1) in itertools.pairwise(points):
                if c0 <= target:
                    best = q0 + (q1 - q0) * min(1.0, (target - c0) / (c1 - c0))
            reached.append(
                f"{budget:.0%}: " + ("n/a" if best is None else f"{best / strong_q:.1%}")
            )
        print(
            f"cells by task, first answer and {cells_of}: no escalation "
            f"{points[0][1] / strong_q:.1%} at {points[0][0] / strong_c:.1%}; "
            "best quality at cost " + ", ".join(reached)
        )
    print(f"first model per task: {first}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
