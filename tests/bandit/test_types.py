"""Domain types validate names and numbers once; ``bandit.pmf`` keeps pmfs well-formed."""

from __future__ import annotations

import math

import pytest

from bandit.pmf import normalise, with_floor
from bandit.types import Arm, Context, Decision, Interaction, Namespace, Pmf

ARMS = (Arm("m0"), Arm("m1"), Arm("m2"))


@pytest.mark.parametrize(
    "name",
    ["size", "Model", "a", "x_1", "Z9", "caller_fields", "a" * 32],
)
def test_namespace_accepts_valid_names(name: str) -> None:
    assert Namespace(name, (("f", 1.0),)).name == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "two words",
        "pipe|name",
        "colon:name",
        "size\n",
        "\nsize",
        "tab\tname",
        "größe",
        "ñ",
        "1size",
        "_size",
        "dash-name",
        "a" * 33,
    ],
)
def test_namespace_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="Namespace name") as error:
        Namespace(name, ())
    assert repr(name) in str(error.value)


@pytest.mark.parametrize(
    "feature",
    [
        "chars_le_64",
        "team=alpha",
        "model-1.5",
        "!",
        "~",
        "{braces}",
        "quote'\"`",
        "back\\slash",
        "#$%&()*+,-./;<=>?@[]^_",
        "x" * 128,
    ],
)
def test_feature_names_accept_printable_ascii(feature: str) -> None:
    assert Namespace("size", ((feature, 0.5),)).features == ((feature, 0.5),)


@pytest.mark.parametrize(
    "feature",
    [
        "",
        "two words",
        "a|b",
        "a:b",
        ":",
        "|",
        "line\nbreak",
        "carriage\rreturn",
        "tab\tbed",
        "nul\x00",
        "del\x7f",
        "café",
        "日本",
        "x" * 129,
    ],
)
def test_feature_names_reject_separators_and_non_ascii(feature: str) -> None:
    with pytest.raises(ValueError, match="Feature name") as error:
        Namespace("size", (("fine", 1.0), (feature, 1.0)))
    assert repr(feature) in str(error.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_feature_values_must_be_finite(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite") as error:
        Namespace("size", (("tokens", value),))
    assert "'tokens'" in str(error.value)


def test_finite_values_of_any_sign_are_accepted() -> None:
    features = (("neg", -1e300), ("zero", 0.0), ("tiny", 5e-324), ("int", 3))

    assert Namespace("size", features).features == features


def test_arm_needs_an_id() -> None:
    with pytest.raises(ValueError, match="non-empty id"):
        Arm("")


def test_types_are_frozen() -> None:
    namespace = Namespace("size", (("f", 1.0),))

    with pytest.raises(AttributeError):
        namespace.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Arm("m0").id = "m1"  # type: ignore[misc]


@pytest.mark.parametrize("chosen", [-1, 3, 10])
def test_interaction_rejects_chosen_out_of_range(chosen: int) -> None:
    with pytest.raises(ValueError, match=f"Chosen index {chosen} .* 3 candidate"):
        Interaction(Context(), ARMS, chosen, 0.5, 1.0)


def test_interaction_without_arms_is_rejected() -> None:
    with pytest.raises(ValueError, match="Chosen index 0"):
        Interaction(Context(), (), 0, 1.0, 1.0)


@pytest.mark.parametrize("probability", [0.0, -0.25, 1.0000001, 2.0, math.nan, math.inf])
def test_interaction_rejects_bad_propensity(probability: float) -> None:
    with pytest.raises(ValueError, match="Propensity") as error:
        Interaction(Context(), ARMS, 1, probability, 1.0)
    assert repr(probability) in str(error.value)


@pytest.mark.parametrize("reward", [math.nan, math.inf, -math.inf])
def test_interaction_rejects_non_finite_reward(reward: float) -> None:
    with pytest.raises(ValueError, match="Reward"):
        Interaction(Context(), ARMS, 1, 0.5, reward)


@pytest.mark.parametrize("cost", [-0.001, math.nan, math.inf])
def test_interaction_rejects_a_bad_cost(cost: float) -> None:
    with pytest.raises(ValueError, match="Cost") as error:
        Interaction(Context(), ARMS, 1, 0.5, 1.0, cost_usd=cost)
    assert repr(cost) in str(error.value)


def test_interaction_cost_is_optional() -> None:
    assert Interaction(Context(), ARMS, 1, 0.5, 1.0).cost_usd is None
    assert Interaction(Context(), ARMS, 1, 0.5, 1.0, cost_usd=0.0).cost_usd == 0.0


def test_interaction_accepts_edge_values() -> None:
    interaction = Interaction(Context(), ARMS, 2, 1.0, -5.0)

    assert (interaction.chosen, interaction.propensity, interaction.reward) == (2, 1.0, -5.0)
    assert Interaction(Context(), ARMS, 0, 1e-12, 0.0).propensity == 1e-12


def test_decision_exposes_model_and_propensity() -> None:
    decision = Decision("d1", Context(), ARMS, (0.25, 0.5, 0.25), chosen=1)

    assert decision.model == "m1"
    assert decision.propensity == 0.5


def test_normalise_scales_to_one() -> None:
    assert normalise([1.0, 3.0]) == (0.25, 0.75)
    assert normalise([2.0, 2.0, 4.0]) == (0.25, 0.25, 0.5)


def test_normalise_treats_negative_and_non_finite_weights_as_zero() -> None:
    assert normalise([math.nan, 1.0, -2.0, math.inf, 3.0]) == (0.0, 0.25, 0.0, 0.0, 0.75)


@pytest.mark.parametrize("weights", [[0.0, 0.0, 0.0, 0.0], [-1.0, math.nan, 0.0, -math.inf]])
def test_normalise_without_positive_weight_is_uniform(weights: list[float]) -> None:
    assert normalise(weights) == (0.25, 0.25, 0.25, 0.25)


def test_normalise_float32_like_values_sums_to_one() -> None:
    pmf = normalise([0.33333334, 0.33333334, 0.3333333])

    assert math.fsum(pmf) == pytest.approx(1.0, abs=1e-15)


def test_with_floor_example() -> None:
    assert with_floor((1.0, 0.0), 0.1) == (0.9, 0.1)


@pytest.mark.parametrize("floor", [0.0, -0.5])
def test_with_floor_zero_or_negative_leaves_the_pmf_alone(floor: float) -> None:
    pmf: Pmf = (0.7, 0.2, 0.1, 0.0)

    assert with_floor(pmf, floor) == pmf


@pytest.mark.parametrize("floor", [0.01, 0.05, 0.1, 0.2])
def test_with_floor_lifts_every_entry_and_keeps_the_ranking(floor: float) -> None:
    pmf: Pmf = (0.6, 0.0, 0.3, 0.1)

    floored = with_floor(pmf, floor)

    assert min(floored) == pytest.approx(floor, abs=1e-15)
    assert all(p >= floor - 1e-15 for p in floored)
    assert math.fsum(floored) == pytest.approx(1.0, abs=1e-12)
    assert sorted(range(4), key=floored.__getitem__) == sorted(range(4), key=pmf.__getitem__)
    # floor + (1 - k * floor) * p, exactly as documented.
    assert floored == pytest.approx([floor + (1 - 4 * floor) * p for p in pmf], abs=1e-15)


@pytest.mark.parametrize("floor", [0.25, 0.3, 1.0, 7.0])
def test_with_floor_is_capped_at_one_over_k(floor: float) -> None:
    assert with_floor((0.97, 0.01, 0.01, 0.01), floor) == pytest.approx([0.25] * 4, abs=1e-15)
