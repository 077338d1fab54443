"""The cascade spec, its reward, and cascade replays on synthetic data (bandit feedback only)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TypeVar

import numpy as np
import pytest

from bandit.budget import ControllerSettings
from bandit.cascade import ACCEPT, ACCEPT_ARM, CascadeSpec, cascade_reward
from bandit.cascade_replay import CascadeEvent, CascadeResult, replay_cascade
from bandit.factory import make_policy
from bandit.replay import Outcome
from bandit.reward import RewardRule
from bandit.settings import ExplorationSettings
from bandit.types import Arm, Context, Namespace

V = TypeVar("V")

CHEAP, OTHER, PROBE, STRONG = "cheap", "other", "probe", "strong"
COST = {CHEAP: 0.001, OTHER: 0.001, PROBE: 0.0005, STRONG: 0.01}


def _arm(model: str) -> Arm:
    return Arm(model, (Namespace("Model", ((f"id={model}", 1.0),)),))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first": (), "escalate": ("b",)}, "at least one first-stage model"),
        ({"first": ("a",), "escalate": ()}, "at least one escalation model"),
        ({"first": ("a", "a"), "escalate": ("b",)}, r"must be distinct; got \['a', 'a'\]"),
        ({"first": ("a",), "escalate": ("a",)}, "'a' is both a first-stage model and an esc"),
        ({"first": ("a",), "escalate": ("b",), "probe": "a"}, "'a' is both a first-stage"),
        ({"first": ("a",), "escalate": ("b",), "probe": "b"}, "'b' is both an escalation model"),
        ({"first": ("a",), "escalate": ("accept",)}, "'accept' names the escalation"),
        ({"first": ("",), "escalate": ("b",)}, "non-empty model id; got ''"),
        ({"first": ("a",), "escalate": ("b",), "probe": ""}, "non-empty model id; got ''"),
    ],
)
def test_bad_specs_are_refused_with_a_sentence(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CascadeSpec(**kwargs)  # type: ignore[arg-type]


def test_the_spec_names_its_arms() -> None:
    spec = CascadeSpec(first=("a", "b"), escalate=("c", "d"), probe="p")
    assert spec.fixed_first is None
    assert spec.escalation_arms == (ACCEPT, "c", "d")
    assert CascadeSpec(first=("a",), escalate=("c",)).fixed_first == "a"
    assert ACCEPT_ARM.id == ACCEPT


def test_the_reward_counts_every_call() -> None:
    rule = RewardRule(cost_weight=10.0)
    assert cascade_reward(rule, 1.0, [0.01, 0.02]) == pytest.approx(0.7)
    assert cascade_reward(rule, 1.0, []) == 1.0
    with pytest.raises(ValueError, match="finite number of USD"):
        cascade_reward(rule, 1.0, [-0.01])


class _Watched(Mapping[str, V]):
    """A mapping that counts reads per key and refuses the ones listed as poisoned."""

    def __init__(self, data: dict[str, V], reads: Counter[str], poisoned: frozenset[str]) -> None:
        self._data, self._reads, self._poisoned = data, reads, poisoned

    def __getitem__(self, key: str) -> V:
        if key in self._poisoned:
            raise AssertionError(f"The replay read the outcome of {key!r}, a call never made.")
        self._reads[key] += 1
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("The replay must not iterate over every outcome.")

    def __len__(self) -> int:
        return len(self._data)


def _signals(agree: bool) -> Context:
    return Context((Namespace("signals", (("agree" if agree else "agree=false", 1.0),)),))


def _events(
    n: int,
    seed: int,
    reads: Counter[str],
    context_reads: Counter[str],
    poisoned: frozenset[str] = frozenset(),
) -> list[CascadeEvent]:
    """When the cheap model and the probe agree, the cheap answer is right 95% of the time; when
    they disagree (30% of prompts), 10%. The strong model is always right, at 10x the cost."""
    rng = np.random.default_rng(seed)
    events = []
    for i in range(n):
        agree = bool(rng.random() < 0.7)
        right = bool(rng.random() < (0.95 if agree else 0.1))
        outcomes = {
            CHEAP: Outcome(1.0 if right else 0.0, COST[CHEAP]),
            OTHER: Outcome(0.0, COST[OTHER]),
            PROBE: Outcome(float(agree and right), COST[PROBE]),
            STRONG: Outcome(1.0, COST[STRONG]),
        }
        contexts = {CHEAP: _signals(agree), OTHER: _signals(agree)}
        events.append(
            CascadeEvent(
                f"p{i}",
                Context(),
                _Watched(outcomes, reads, poisoned),
                _Watched(contexts, context_reads, frozenset()),
                "agree" if agree else "disagree",
            )
        )
    return events


def _replay(
    spec: CascadeSpec, train: list[CascadeEvent], holdout: list[CascadeEvent], w: float
) -> CascadeResult:
    settings = ExplorationSettings(seed=3)
    return replay_cascade(
        train,
        holdout,
        spec,
        tuple(_arm(m) for m in spec.first),
        (ACCEPT_ARM, *(_arm(m) for m in spec.escalate)),
        RewardRule(cost_weight=w),
        make_policy(settings, context_namespaces=(), arm_namespaces=("Model",)),
        make_policy(settings, context_namespaces=("signals",), arm_namespaces=("Model",)),
        passes=3,
        seed=7,
    )


def test_the_learner_escalates_exactly_where_it_pays() -> None:
    reads: Counter[str] = Counter()
    spec = CascadeSpec(first=(CHEAP,), escalate=(STRONG,), probe=PROBE)
    train = _events(1500, 0, reads, Counter())
    holdout = _events(600, 1, reads, Counter())
    # Escalating gains 0.9 on a disagreement and 0.05 on an agreement, for 0.1 of cost.
    result = _replay(spec, train, holdout, w=10.0)
    rates = result.holdout.escalation_rate_by_source
    assert rates["disagree"] > 0.95
    assert rates["agree"] < 0.05
    assert result.holdout.mean_quality > 0.9
    # With a cost weight at which a strong call never pays, it learns to accept.
    never = _replay(spec, train, holdout, w=200.0)
    assert never.holdout.escalation_rate < 0.05
    assert never.holdout.mean_quality < 0.8


def test_the_first_stage_learns_the_better_cheap_model() -> None:
    spec = CascadeSpec(first=(OTHER, CHEAP), escalate=(STRONG,), probe=PROBE)
    train = _events(1500, 0, Counter(), Counter())
    holdout = _events(600, 1, Counter(), Counter())
    result = _replay(spec, train, holdout, w=10.0)
    assert result.holdout.first_share[CHEAP] > 0.95
    assert 0.0 < result.online.first_share[OTHER] < 0.5  # explored, then left


def test_only_the_calls_made_are_read() -> None:
    reads: Counter[str] = Counter()
    context_reads: Counter[str] = Counter()
    spec = CascadeSpec(first=(OTHER, CHEAP), escalate=(STRONG,), probe=PROBE)
    poisoned = frozenset({"never"})
    train = _events(400, 0, reads, context_reads, poisoned)
    holdout = _events(200, 1, reads, context_reads, poisoned)
    result = _replay(spec, train, holdout, w=10.0)
    plays = 3 * len(train) + len(holdout)
    # One first answer and one escalation context per play, of the first model chosen only.
    assert reads[CHEAP] + reads[OTHER] == plays
    assert context_reads[CHEAP] + context_reads[OTHER] == plays
    assert reads[CHEAP] == round(
        result.online.first_share[CHEAP] * 3 * len(train)
        + result.holdout.first_share[CHEAP] * len(holdout)
    )
    assert reads[PROBE] == plays
    escalations = result.online.escalation_rate * 3 * len(train)
    escalations += result.holdout.escalation_rate * len(holdout)
    assert reads[STRONG] == round(escalations)
    assert 0 < reads[STRONG] < plays


def test_arms_must_follow_the_spec() -> None:
    spec = CascadeSpec(first=(CHEAP,), escalate=(STRONG,))
    policy = make_policy(
        ExplorationSettings(algorithm="uniform"), context_namespaces=(), arm_namespaces=()
    )
    with pytest.raises(ValueError, match="escalation arms"):
        replay_cascade(
            [],
            [],
            spec,
            (_arm(CHEAP),),
            (_arm(STRONG),),
            RewardRule(),
            policy,
            policy,
            passes=1,
            seed=0,
        )


def _budget_replay(
    train: list[CascadeEvent], holdout: list[CascadeEvent], budget_usd: float
) -> CascadeResult:
    spec = CascadeSpec(first=(CHEAP,), escalate=(STRONG,), probe=PROBE)
    settings = ExplorationSettings(seed=3, min_probability=0.02)
    return replay_cascade(
        train,
        holdout,
        spec,
        (_arm(CHEAP),),
        (ACCEPT_ARM, _arm(STRONG)),
        RewardRule(cost_weight=0.0),
        make_policy(settings, context_namespaces=(), arm_namespaces=("Model",)),
        make_policy(
            settings,
            context_namespaces=("signals",),
            arm_namespaces=("Model",),
            budget_usd=budget_usd,
            controller=ControllerSettings(calibration=1000),
        ),
        passes=3,
        seed=7,
    )


@pytest.mark.parametrize("escalated", [0.1, 0.2])
def test_under_a_budget_the_cascade_spends_it_on_disagreements(escalated: float) -> None:
    reads: Counter[str] = Counter()
    train = _events(1500, 0, reads, Counter())
    holdout = _events(600, 1, reads, Counter())
    # Every prompt pays the cheap model and the probe; the budget buys the strong model on
    # ``escalated`` of the prompts, a third or two thirds of the disagreements (30%).
    budget = COST[CHEAP] + COST[PROBE] + escalated * COST[STRONG]
    result = _budget_replay(train, holdout, budget)
    assert result.online.mean_cost_usd == pytest.approx(budget, rel=0.1)
    assert result.holdout.mean_cost_usd == pytest.approx(budget, rel=0.25)
    rates = result.holdout.escalation_rate_by_source
    assert rates["agree"] < 0.05  # the budget goes where escalating gains most
    assert escalated / 0.3 - 0.25 < rates["disagree"] < escalated / 0.3 + 0.25
    assert result.final_cost_weight is not None
    assert result.final_cost_weight > 0.0
    assert result.holdout_mixture is not None
    # The strong model's outcome is read only when it was called.
    escalations = result.online.escalation_rate * 3 * len(train)
    escalations += result.holdout.escalation_rate * len(holdout)
    assert reads[STRONG] == round(escalations)


def test_under_a_budget_the_rule_has_no_cost_weight() -> None:
    spec = CascadeSpec(first=(CHEAP,), escalate=(STRONG,))
    settings = ExplorationSettings(seed=3)
    with pytest.raises(ValueError, match=r"no cost weight \(got 10.0\)"):
        replay_cascade(
            [],
            [],
            spec,
            (_arm(CHEAP),),
            (ACCEPT_ARM, _arm(STRONG)),
            RewardRule(cost_weight=10.0),
            make_policy(settings, context_namespaces=(), arm_namespaces=("Model",)),
            make_policy(
                settings, context_namespaces=(), arm_namespaces=("Model",), budget_usd=0.002
            ),
            passes=1,
            seed=0,
        )
