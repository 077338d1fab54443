"""The Vowpal Wabbit adapter: its command line and the text examples it feeds VW."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandit import vw_format, vw_policy
from bandit.settings import Algorithm, ExplorationSettings
from bandit.types import Arm, Context, Interaction, Namespace
from bandit.vw_format import render_example, vw_arguments
from bandit.vw_policy import VowpalPolicy

CONTEXT = Context(
    (
        Namespace("size", (("chars_le_64", 1.0),)),
        Namespace("caller", (("team=alpha", 1.0), ("tokens", 0.5))),
    )
)
ARMS = (
    Arm("m0", (Namespace("Model", (("m0", 1.0),)), Namespace("Price", (("usd", 0.5),)))),
    Arm("m1", (Namespace("Model", (("m1", 1.0),)), Namespace("Price", (("usd", 2.0),)))),
    Arm("m2", (Namespace("Model", (("m2", 1.0),)), Namespace("Price", (("usd", 0.25),)))),
)
PAIRS = [(c, a) for c in ("size", "caller") for a in ("Model", "Price")]


def value_after(args: list[str], flag: str) -> str:
    assert args.count(flag) == 1, args
    return args[args.index(flag) + 1]


def test_squarecb_arguments() -> None:
    args = vw_arguments(
        ExplorationSettings(algorithm="squarecb", gamma_scale=7.5, gamma_exponent=0.25), PAIRS
    )

    assert "--cb_explore_adf" in args
    assert "--squarecb" in args
    assert value_after(args, "--gamma_scale") == "7.5"
    assert value_after(args, "--gamma_exponent") == "0.25"
    assert "--epsilon" not in args


def test_epsilon_arguments() -> None:
    args = vw_arguments(ExplorationSettings(algorithm="epsilon", epsilon=0.125), PAIRS)

    assert "--cb_explore_adf" in args
    assert value_after(args, "--epsilon") == "0.125"
    assert "--squarecb" not in args
    assert "--gamma_scale" not in args


def test_common_arguments_come_from_the_settings() -> None:
    args = vw_arguments(ExplorationSettings(seed=1234, bits=20, learning_rate=0.75), PAIRS)

    assert value_after(args, "--random_seed") == "1234"
    assert value_after(args, "-b") == "20"
    assert value_after(args, "-l") == "0.75"
    assert "--quiet" in args


@pytest.mark.parametrize(
    "settings",
    [
        ExplorationSettings(algorithm="uniform"),
        ExplorationSettings(algorithm="context_free_epsilon"),
    ],
)
def test_numpy_baselines_have_no_vw_arguments(settings: ExplorationSettings) -> None:
    with pytest.raises(ValueError, match="not a Vowpal Wabbit algorithm"):
        vw_arguments(settings, PAIRS)


def test_one_interaction_flag_per_distinct_letter_pair() -> None:
    # "source" shares the letter s with "size"; the duplicate pair must not repeat a flag.
    pairs = [*PAIRS, ("source", "Model"), ("source", "Price"), ("size", "Model")]

    args = vw_arguments(ExplorationSettings(), pairs)

    flags = [args[i + 1] for i, arg in enumerate(args) if arg == "--interactions"]
    assert sorted(flags) == ["cM", "cP", "sM", "sP"]


def test_no_pairs_no_interactions() -> None:
    assert "--interactions" not in vw_arguments(ExplorationSettings(), [])


def test_render_example_labels_only_the_chosen_line_with_cost_minus_reward() -> None:
    reward, probability = 0.75, 0.25

    lines = render_example(CONTEXT, ARMS, (1, -reward, probability))

    assert lines == [
        "shared |size chars_le_64 |caller team=alpha tokens:0.5",
        "|Model m0 |Price usd:0.5",
        "0:-0.75:0.25 |Model m1 |Price usd:2.0",
        "|Model m2 |Price usd:0.25",
    ]


def test_render_example_without_label_has_no_label() -> None:
    lines = render_example(CONTEXT, ARMS)

    assert lines[0].startswith("shared |")
    assert all(line.startswith("|") for line in lines[1:])


def test_render_example_never_emits_an_empty_line() -> None:
    lines = render_example(Context(), (Arm("bare"), ARMS[0], Arm("also-bare")))

    assert lines[0].startswith("shared")
    assert len(lines) == 4
    assert all(line.strip() for line in lines)


@pytest.mark.parametrize(
    ("algorithm", "label_probability"),
    # SquareCB's regression oracle learns unweighted; epsilon-greedy keeps the 1/p weight.
    [("squarecb", 1.0), ("epsilon", 0.25)],
)
def test_learn_sends_cost_equal_to_minus_reward(
    monkeypatch: pytest.MonkeyPatch, algorithm: Algorithm, label_probability: float
) -> None:
    labels: list[tuple[int, float, float] | None] = []
    real = vw_format.arm_lines

    def spy(
        arms: tuple[Arm, ...],
        label: tuple[int, float, float] | None = None,
        cache: vw_format.RenderCache | None = None,
    ) -> list[str]:
        labels.append(label)
        return real(arms, label, cache)

    # Every path to VW text, learning's and predicting's, renders its arm lines here (the
    # format module's own, and the name the policy imported).
    monkeypatch.setattr(vw_format, "arm_lines", spy)
    monkeypatch.setattr(vw_policy, "arm_lines", spy)
    policy = VowpalPolicy(ExplorationSettings(algorithm=algorithm), PAIRS)

    policy.learn(Interaction(CONTEXT, ARMS, 2, 0.25, 0.75))
    policy.predict(CONTEXT, ARMS)

    assert labels == [(2, -0.75, label_probability), None]


@pytest.mark.parametrize("algorithm", ["squarecb", "epsilon"])
def test_higher_reward_wins(algorithm: Algorithm) -> None:
    policy = VowpalPolicy(ExplorationSettings(algorithm=algorithm), PAIRS)
    rng = np.random.default_rng(3)
    for _ in range(300):
        chosen = int(rng.integers(len(ARMS)))
        reward = 1.0 if chosen == 1 else -1.0
        policy.learn(Interaction(CONTEXT, ARMS, chosen, 1 / len(ARMS), reward))

    pmf = policy.predict(CONTEXT, ARMS)

    assert pmf[1] == max(pmf)
    assert pmf[1] > 0.5


# Names that are valid, or valid but for one separator, control or non-ASCII character.
_SAFE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=6)
_UNSAFE = st.sampled_from([" ", "|", ":", "\n", "\t", "\r", "\x0b", "\x00", "\x7f", "é", "\u3000"])
_FEATURE_NAMES = st.one_of(
    _SAFE.filter(bool), st.builds(lambda a, c, b: a + c + b, _SAFE, _UNSAFE, _SAFE)
)
_NAMESPACE = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,6}", fullmatch=True)
_NAMESPACE_NAMES = st.one_of(_NAMESPACE, st.builds(lambda a, c: a + c, _NAMESPACE, _UNSAFE))
_VALUES = st.one_of(st.just(1.0), st.floats(-1e6, 1e6), st.floats())


@settings(database=None, derandomize=True, max_examples=500, deadline=None)
@given(
    namespace_name=_NAMESPACE_NAMES,
    features=st.lists(st.tuples(_FEATURE_NAMES, _VALUES), min_size=1, max_size=4),
)
def test_no_accepted_name_can_add_a_feature_or_a_namespace(
    namespace_name: str, features: list[tuple[str, float]]
) -> None:
    try:
        namespace = Namespace(namespace_name, tuple(features))
    except ValueError:
        return

    for line in (
        render_example(Context((namespace,)), ARMS[:1])[0].removeprefix("shared "),
        render_example(Context(), (Arm("m", (namespace,)),), (0, -0.5, 0.5))[1].removeprefix(
            "0:-0.5:0.5 "
        ),
    ):
        # VW splits a line on whitespace, a namespace on "|" and a feature on ":".
        tokens = line.split()
        assert line.count("|") == 1
        assert tokens[0] == f"|{namespace_name}"
        assert len(tokens) == 1 + len(features)
        for token, (name, value) in zip(tokens[1:], features, strict=True):
            assert token.split(":")[0] == name
            assert token.count(":") == (0 if value == 1.0 else 1)


def test_numpy_float_reward_renders_as_a_plain_number() -> None:
    lines = render_example(CONTEXT, ARMS, (0, np.float64(-0.5), np.float64(0.25)))

    assert lines[1].startswith("0:-0.5:0.25 ")


def test_numpy_float_reward_is_learned_like_a_float() -> None:
    plain = VowpalPolicy(ExplorationSettings(), PAIRS)
    numpy_fed = VowpalPolicy(ExplorationSettings(), PAIRS)
    rng = np.random.default_rng(4)
    for _ in range(100):
        chosen = int(rng.integers(len(ARMS)))
        reward = np.float64(1.0 if chosen == 0 else 0.0)
        plain.learn(Interaction(CONTEXT, ARMS, chosen, 1 / 3, float(reward)))
        numpy_fed.learn(Interaction(CONTEXT, ARMS, chosen, 1 / 3, reward))

    assert numpy_fed.predict(CONTEXT, ARMS) == plain.predict(CONTEXT, ARMS)


@pytest.mark.parametrize("algorithm", ["squarecb", "epsilon"])
def test_learning_from_the_predicted_examples_equals_learning_from_text(
    algorithm: Algorithm,
) -> None:
    """predict-then-learn on the same objects reuses VW's parsed examples; the result must be
    exactly what learning from freshly rendered text gives."""
    reusing = VowpalPolicy(ExplorationSettings(algorithm=algorithm), PAIRS)
    parsing = VowpalPolicy(ExplorationSettings(algorithm=algorithm), PAIRS)
    rng = np.random.default_rng(8)
    for step in range(200):
        level = int(rng.integers(3))
        context = Context((Namespace("caller", ((f"level={level}", 1.0), ("x", step / 200))),))
        pmf = reusing.predict(context, ARMS)
        assert parsing.predict(context, ARMS) == pmf
        chosen = int(rng.integers(len(ARMS)))
        reward = 1.0 if chosen == level % len(ARMS) else 0.0
        reusing.learn(Interaction(context, ARMS, chosen, pmf[chosen], reward))
        copy = Context(tuple(Namespace(n.name, n.features) for n in context.namespaces))
        parsing.learn(Interaction(copy, tuple(ARMS), chosen, pmf[chosen], reward))
    # The saved models differ only in VW's count of parsed examples (text is parsed twice on
    # the other path); what the policy predicts is the same.
    for level in range(3):
        probe = Context((Namespace("caller", ((f"level={level}", 1.0),)),))
        assert reusing.predict(probe, ARMS) == parsing.predict(probe, ARMS)


def test_learning_rate_decay_is_vw_power_t() -> None:
    arguments = vw_arguments(ExplorationSettings(learning_rate_decay=0.0), PAIRS)
    assert arguments[arguments.index("--power_t") + 1] == "0.0"
    with pytest.raises(ValueError, match="learning_rate_decay"):
        ExplorationSettings(learning_rate_decay=1.5)


def test_forgetting_follows_a_reversal_faster() -> None:
    """Arm 0 is best for 600 rounds, then arm 1: a constant rate (decay 0) catches up sooner."""

    def rounds_to_follow(decay: float) -> int:
        policy = VowpalPolicy(ExplorationSettings(learning_rate_decay=decay), PAIRS)
        rng = np.random.default_rng(6)
        for step in range(1200):
            best = 0 if step < 600 else 1
            pmf = policy.predict(CONTEXT, ARMS)
            chosen = int(rng.choice(len(ARMS), p=np.array(pmf) / sum(pmf)))
            reward = 1.0 if chosen == best else 0.0
            policy.learn(Interaction(CONTEXT, ARMS, chosen, pmf[chosen], reward))
            if step >= 600 and max(range(len(pmf)), key=pmf.__getitem__) == 1:
                return step - 600
        return 600

    assert rounds_to_follow(0.0) < rounds_to_follow(0.5)


def test_rendered_text_is_cached_only_while_its_context_lives() -> None:
    """A server renders a new context per request: the cache must not keep them alive."""
    import gc

    policy = VowpalPolicy(ExplorationSettings(), PAIRS)
    policy.predict(CONTEXT, ARMS)
    before = len(vw_format.RENDERED)
    contexts = [Context((Namespace("caller", ((f"request={i}", 1.0),)),)) for i in range(100)]
    for context in contexts:
        policy.predict(context, ARMS)
    policy.predict(CONTEXT, ARMS)  # releases the examples of the last request
    assert len(vw_format.RENDERED) == before + 100

    del contexts, context
    gc.collect()

    assert len(vw_format.RENDERED) == before


def test_a_context_given_a_freed_contexts_id_is_rendered_afresh() -> None:
    import gc
    import weakref

    cache = vw_format.RenderCache()
    old = Context((Namespace("caller", (("old", 1.0),)),))
    dead: weakref.ref[Context | Arm] = weakref.ref(old)
    del old
    gc.collect()
    fresh = Context((Namespace("caller", (("fresh", 1.0),)),))
    # As if the freed context had lived at fresh's address and its entry were still there.
    cache._entries[id(fresh)] = (dead, "|caller old")

    assert cache.get(fresh) == "|caller fresh"
