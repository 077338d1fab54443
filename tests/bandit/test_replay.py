"""The replay evaluator's arithmetic on small seeded datasets with known answers."""

from __future__ import annotations

import pytest

from bandit.factory import make_policy
from bandit.policy import Policy
from bandit.replay import Outcome, ReplayEvent, baselines, in_holdout, replay, summarise
from bandit.reward import RewardRule
from bandit.settings import Algorithm, ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace, Pmf

MODELS = ("cheap", "good", "pricey")
ARMS = tuple(Arm(m, (Namespace("Model", ((f"id={m}", 1.0),)),)) for m in MODELS)


def _event(index: int, task: str, outcomes: dict[str, tuple[float, float]]) -> ReplayEvent:
    context = Context((Namespace("caller", ((f"task={task}", 1.0), (f"n{index % 5}", 1.0))),))
    return ReplayEvent(f"p{index}", context, {m: Outcome(q, c) for m, (q, c) in outcomes.items()})


def _always_good(n: int) -> list[ReplayEvent]:
    return [
        _event(i, "any", {"cheap": (0.0, 0.001), "good": (1.0, 0.002), "pricey": (0.5, 0.01)})
        for i in range(n)
    ]


def _policy(algorithm: Algorithm = "squarecb") -> Policy:
    return make_policy(
        ExplorationSettings(algorithm=algorithm),
        context_namespaces=("caller",),
        arm_namespaces=("Model",),
    )


def test_baselines_on_a_hand_computed_holdout() -> None:
    holdout = [
        _event(0, "a", {"cheap": (1.0, 0.1), "good": (1.0, 0.2), "pricey": (0.0, 0.4)}),
        _event(1, "b", {"cheap": (0.0, 0.1), "good": (1.0, 0.2), "pricey": (1.0, 0.4)}),
    ]
    result = baselines(holdout, MODELS)
    assert result.per_model["cheap"].mean_quality == 0.5
    assert result.per_model["pricey"].mean_cost_usd == pytest.approx(0.4)
    assert result.best_single_model == "good"
    # The oracle takes the best quality, the cheaper one among ties: cheap, then good.
    assert result.oracle.mean_quality == 1.0
    assert result.oracle.mean_cost_usd == pytest.approx(0.15)
    assert result.random.mean_quality == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert result.random.mean_cost_usd == pytest.approx((0.1 + 0.2 + 0.4) / 3)


def test_best_single_model_ties_go_to_the_cheaper_model() -> None:
    holdout = [_event(0, "a", {"cheap": (1.0, 0.1), "good": (1.0, 0.2), "pricey": (1.0, 0.4)})]
    assert baselines(holdout, MODELS).best_single_model == "cheap"


def test_summary_arithmetic_and_reward_rule() -> None:
    chosen = [("cheap", Outcome(1.0, 0.1)), ("good", Outcome(0.5, 0.3))]
    summary = summarise(chosen, RewardRule(cost_weight=2.0), MODELS)
    assert summary.mean_quality == 0.75
    assert summary.mean_cost_usd == pytest.approx(0.2)
    assert summary.mean_reward == pytest.approx(((1.0 - 0.2) + (0.5 - 0.6)) / 2)
    assert summary.model_share == {"cheap": 0.5, "good": 0.5, "pricey": 0.0}


def test_the_router_finds_a_model_that_is_always_best() -> None:
    events = _always_good(400)
    train = [e for e in events if not in_holdout(e.id, 3, 0.25)]
    holdout = [e for e in events if in_holdout(e.id, 3, 0.25)]
    result = replay(train, holdout, ARMS, RewardRule(), _policy(), passes=2, seed=3)
    assert result.holdout.model_share["good"] == 1.0
    assert result.holdout.mean_quality == 1.0
    assert result.online.events == 2 * len(train)
    assert result.online.model_share["good"] > 0.8
    assert result.curve[-1].mean_quality > result.curve[0].mean_quality
    # No event names a source, so there is nothing to report per source.
    assert result.holdout_share_by_source == {}


def test_holdout_shares_are_reported_per_source() -> None:
    """Task a's best model is cheap, task b's is pricey; prompts without a source are left out."""
    events = []
    for i in range(600):
        task = ("a", "b", "none")[i % 3]
        event = _event(
            i,
            task,
            {
                "cheap": (1.0 if task == "a" else 0.0, 0.001),
                "good": (0.5, 0.002),
                "pricey": (1.0 if task != "a" else 0.0, 0.01),
            },
        )
        events.append(
            ReplayEvent(event.id, event.context, event.outcomes, None if task == "none" else task)
        )
    train = [e for e in events if not in_holdout(e.id, 1, 0.25)]
    holdout = [e for e in events if in_holdout(e.id, 1, 0.25)]
    result = replay(train, holdout, ARMS, RewardRule(), _policy(), passes=2, seed=1)
    assert result.holdout_share_by_source == {"a": {"cheap": 1.0}, "b": {"pricey": 1.0}}


def test_cost_weight_moves_the_router_to_the_cheaper_model() -> None:
    # cheap: quality 0.8 at $0.01; pricey: quality 0.9 at $0.10. At weight 5 cheap wins.
    events = [
        _event(i, "any", {"cheap": (0.8, 0.01), "good": (0.0, 0.01), "pricey": (0.9, 0.1)})
        for i in range(300)
    ]
    shares = {}
    for weight in (0.0, 5.0):
        result = replay(
            events[:200],
            events[200:],
            ARMS,
            RewardRule(cost_weight=weight),
            _policy(),
            passes=2,
            seed=1,
        )
        shares[weight] = result.holdout.model_share
    assert shares[0.0]["pricey"] == 1.0
    assert shares[5.0]["cheap"] == 1.0


class _Recorder:
    """A policy that remembers what it learned from."""

    def __init__(self) -> None:
        self.learned: list[Interaction] = []

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        return tuple(1.0 / len(arms) for _ in arms)

    def learn(self, interaction: Interaction) -> None:
        self.learned.append(interaction)

    def to_bytes(self) -> bytes:
        return b""


def test_holdout_prompts_are_never_learned_and_only_the_chosen_outcome_is_seen() -> None:
    events = [
        _event(i, f"t{i}", {"cheap": (0.1, 0.0), "good": (0.2, 0.0), "pricey": (0.3, 0.0)})
        for i in range(200)
    ]
    train = [e for e in events if not in_holdout(e.id, 9, 0.3)]
    holdout = [e for e in events if in_holdout(e.id, 9, 0.3)]
    recorder = _Recorder()
    replay(train, holdout, ARMS, RewardRule(), recorder, passes=3, seed=9)
    held_contexts = {id(e.context) for e in holdout}
    assert len(recorder.learned) == 3 * len(train)
    assert not any(id(i.context) in held_contexts for i in recorder.learned)
    by_context = {id(e.context): e for e in train}
    for interaction in recorder.learned:
        event = by_context[id(interaction.context)]
        chosen = interaction.arms[interaction.chosen].id
        assert interaction.reward == event.outcomes[chosen].quality  # bandit feedback only
        assert interaction.propensity == pytest.approx(1 / 3)


def test_holdout_split_is_stable_and_close_to_the_fraction() -> None:
    ids = [f"prompt-{i}" for i in range(5000)]
    first = [in_holdout(i, 11, 0.3) for i in ids]
    assert first == [in_holdout(i, 11, 0.3) for i in ids]
    assert 0.27 < sum(first) / len(ids) < 0.33
    assert first != [in_holdout(i, 12, 0.3) for i in ids]  # the seed changes the split


def test_progressive_pmfs_predict_before_learning_each_step() -> None:
    from bandit.counterfactual import LoggedStep, progressive_pmfs

    steps = [
        LoggedStep(e.context, ARMS, 1, 1 / 3, e.outcomes["good"].quality) for e in _always_good(300)
    ]
    pmfs = progressive_pmfs(_policy(), steps)
    assert len(pmfs) == 300
    assert pmfs[0] == pytest.approx((1 / 3, 1 / 3, 1 / 3))  # nothing learned yet
    assert max(range(3), key=pmfs[-1].__getitem__) == 1  # it learned from the log
    fresh = _policy()
    for step, pmf in zip(steps[:50], pmfs[:50], strict=True):
        assert fresh.predict(step.context, ARMS) == pmf
        fresh.learn(Interaction(step.context, ARMS, 1, 1 / 3, step.reward))
