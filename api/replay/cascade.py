"""``bandit-router replay --cascade``: simulate a learned cascade on a dataset with responses.

The escalation signals are computed from the models' recorded answers by the router's own
feature code (:mod:`features.signals`) from what an application would send: the first answer's
text and the probe's (whether they agree is decided by that code).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from api.replay.dataset import DatasetRow
from bandit.budget import REPLAY_CALIBRATION, BudgetedPolicy, ControllerSettings
from bandit.cascade import ACCEPT_ARM, CascadeSpec
from bandit.cascade_replay import CascadeEvent, CascadeResult, CascadeSummary, replay_cascade
from bandit.factory import make_policy
from bandit.replay import ReplayEvent
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from bandit.types import Arm
from features import ARM_NAMESPACES, CONTEXT_NAMESPACES
from features.signals import (
    ESCALATION_NAMESPACES,
    EscalationSignals,
    escalation_context,
)

__all__ = ["cascade_events", "cascade_json", "cascade_lines", "parse_cascade", "run_cascade"]


def parse_cascade(text: str) -> CascadeSpec:
    """A cascade from its JSON form, ``{"first": [...], "probe": "...", "escalate": [...]}``.

    ``first`` and ``escalate`` may also be a single model id; ``probe`` is optional.

    >>> parse_cascade('{"first": "yi", "probe": "mixtral", "escalate": ["gpt-4"]}')
    CascadeSpec(first=('yi',), escalate=('gpt-4',), probe='mixtral')
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"The cascade {text!r} is not JSON ({error}).") from error
    if not isinstance(data, dict):
        raise ValueError(f"The cascade must be a JSON object; got {text!r}.")
    unknown = sorted(set(data) - {"first", "probe", "escalate"})
    if unknown:
        raise ValueError(
            f"The cascade has unknown keys {unknown}; it takes first, probe, escalate."
        )
    if "first" not in data or "escalate" not in data:
        raise ValueError(f"The cascade {text!r} needs both 'first' and 'escalate'.")
    return CascadeSpec(
        first=_models(data["first"], "first"),
        escalate=_models(data["escalate"], "escalate"),
        probe=data.get("probe"),
    )


def _models(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    raise ValueError(f"The cascade's {key!r} must be a model id or a list of them; got {value!r}.")


def cascade_events(
    rows: Sequence[DatasetRow], events: Sequence[ReplayEvent], spec: CascadeSpec
) -> list[CascadeEvent]:
    """Each prompt with the escalation context each first-stage model's answer gives."""
    models = set(rows[0].outcomes)
    missing = sorted({*spec.first, *spec.escalate, *([spec.probe] if spec.probe else [])} - models)
    if missing:
        raise ValueError(f"The cascade names models the dataset does not score: {missing}.")
    cascade = []
    for row, event in zip(rows, events, strict=True):
        needed = [*spec.first, *([spec.probe] if spec.probe else [])]
        absent = [m for m in needed if m not in row.responses]
        if absent:
            raise ValueError(
                f"Prompt {row.id!r} has no response from {absent}: a cascade replay needs the "
                "answers of its first-stage and probe models."
            )
        escalation = {}
        for model in spec.first:
            probe = None if spec.probe is None else row.responses[spec.probe]
            signals = EscalationSignals(answer=row.responses[model], probe_answer=probe)
            escalation[model] = escalation_context(event.context, signals, model)
        cascade.append(
            CascadeEvent(event.id, event.context, event.outcomes, escalation, event.source)
        )
    return cascade


def run_cascade(
    train: Sequence[CascadeEvent],
    holdout: Sequence[CascadeEvent],
    spec: CascadeSpec,
    arms_for: Callable[[Sequence[str]], tuple[Arm, ...]],
    cost_weight: float,
    exploration: ExplorationSettings,
    *,
    passes: int,
    seed: int,
    budget_usd: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> CascadeResult:
    """One cascade replay at ``cost_weight``, with fresh policies for both stages.

    With ``budget_usd`` (then ``cost_weight`` must be 0) the cascade's whole spend per prompt
    aims at that budget: the escalation policy is budgeted, its controller's cost weight
    scores the first stage, and its greedy holdout decisions are calibrated on the last
    ``REPLAY_CALIBRATION`` escalation requests.
    """
    first_policy = make_policy(
        exploration, context_namespaces=CONTEXT_NAMESPACES, arm_namespaces=ARM_NAMESPACES
    )
    escalation_policy = make_policy(
        exploration,
        context_namespaces=(*CONTEXT_NAMESPACES, *ESCALATION_NAMESPACES),
        arm_namespaces=ARM_NAMESPACES,
        budget_usd=budget_usd,
        controller=None
        if budget_usd is None
        else ControllerSettings(calibration=REPLAY_CALIBRATION),
    )
    try:
        return replay_cascade(
            train,
            holdout,
            spec,
            arms_for(spec.first),
            (ACCEPT_ARM, *arms_for(spec.escalate)),
            RewardRule(cost_weight=cost_weight),
            first_policy,
            escalation_policy,
            passes=passes,
            seed=seed,
            progress=progress,
        )
    finally:
        if isinstance(escalation_policy, BudgetedPolicy):
            escalation_policy.close()


def _summary(summary: CascadeSummary) -> dict[str, Any]:
    return {
        "events": summary.events,
        "mean_quality": summary.mean_quality,
        "mean_cost_usd": summary.mean_cost_usd,
        "mean_reward": summary.mean_reward,
        "escalation_rate": summary.escalation_rate,
        "first_share": dict(summary.first_share),
        "escalation_share": dict(summary.escalation_share),
        "escalation_rate_by_source": dict(summary.escalation_rate_by_source),
    }


def cascade_json(
    result: CascadeResult, spec: CascadeSpec, cost_weight: float, budget_usd: float | None = None
) -> dict[str, Any]:
    """The ``"cascade"`` section of one run in the JSON report.

    A budget run's section carries ``"budget"``: the target, the cascade's online and holdout
    spend against it, the controller's final cost weight and the holdout's greedy mixture.
    """
    budget = None
    if budget_usd is not None:
        mixture = result.holdout_mixture
        budget = {
            "usd_per_request": budget_usd,
            "final_cost_weight": result.final_cost_weight,
            "online_spend_vs_budget": result.online.mean_cost_usd / budget_usd,
            "holdout_spend_vs_budget": result.holdout.mean_cost_usd / budget_usd,
            "holdout_mixture": None
            if mixture is None
            else {"cost_weight_a": mixture[0], "cost_weight_b": mixture[1], "share_a": mixture[2]},
        }
    return {
        "cost_weight": cost_weight
        if result.final_cost_weight is None
        else result.final_cost_weight,
        "budget": budget,
        "first": list(spec.first),
        "probe": spec.probe,
        "escalate": list(spec.escalate),
        "online": _summary(result.online),
        "holdout": _summary(result.holdout),
    }


def cascade_lines(
    runs: Sequence[tuple[str, CascadeResult]], best_quality: float, best_cost_usd: float
) -> list[str]:
    """A plain-text table of cascade runs, relative to the best single model; each run is
    labelled by its cost weight or budget."""
    lines = [
        "",
        "cascade:",
        f"{'cost_weight':>11} | {'holdout quality':>16} {'cost':>7} {'escalated':>9} | "
        f"{'online quality':>16} {'cost':>7} {'escalated':>9}",
    ]
    for label, result in runs:
        cells = [
            f"{s.mean_quality:.3f} ({s.mean_quality / best_quality:5.1%}) "
            f"{s.mean_cost_usd / best_cost_usd:7.1%} {s.escalation_rate:9.1%}"
            for s in (result.holdout, result.online)
        ]
        lines.append(f"{label:>11} | {cells[0]} | {cells[1]}")
    return lines
