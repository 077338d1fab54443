import math

import pytest

from features.arms import ARM_NAMESPACES, arm_for_model, blended_price, price_tier
from features.caller import caller_namespace
from features.errors import FeatureError
from features.mapping import Scalar
from features.sanitize import safe_token


@pytest.mark.parametrize(
    ("blended", "tier"),
    [
        (0.0, 0),
        (0.2499, 0),
        (0.25, 1),
        (0.5, 2),
        (0.99, 2),
        (1.0, 3),
        (2.0, 4),
        (4.0, 5),
        (8.0, 6),
        (16.0, 7),
        (31.99, 7),
        (32.0, 8),
        (1e9, 8),
    ],
)
def test_price_tiers_are_log2_buckets_clamped(blended: float, tier: int) -> None:
    assert price_tier(blended) == tier


def test_blended_price_weights_output_three_times() -> None:
    assert blended_price(1.0, 5.0) == 4.0
    assert blended_price(4.0, 0.0) == 1.0


def test_arm_namespaces() -> None:
    declared: dict[str, Scalar] = {"context_window": 128000, "provider": "openai", "vision": True}
    arm = arm_for_model(
        "gpt-4o", input_usd_per_mtok=2.5, output_usd_per_mtok=10.0, declared=declared
    )
    assert arm.id == "gpt-4o"
    assert [namespace.name for namespace in arm.namespaces] == list(ARM_NAMESPACES)
    model, price, declared_namespace = arm.namespaces
    assert model.features == (("id=gpt-4o", 1.0),)
    blended = (2.5 + 3 * 10.0) / 4
    (tier, (log_name, log_price)) = price.features
    assert tier == ("tier_6", 1.0)
    assert log_name == "log_price"
    assert log_price == pytest.approx(math.log1p(blended))
    # The same rules as caller features, not a second implementation of them.
    caller = caller_namespace(declared)
    assert caller is not None
    assert declared_namespace.features == caller.features


def test_no_declared_features_no_declared_namespace() -> None:
    arm = arm_for_model("m", input_usd_per_mtok=0.0, output_usd_per_mtok=0.0, declared={})
    assert [namespace.name for namespace in arm.namespaces] == ["Model", "Price"]
    assert arm.namespaces[1].features == (("tier_0", 1.0), ("log_price", 0.0))


def test_unsafe_model_ids_are_hashed_but_the_arm_keeps_the_id() -> None:
    arm = arm_for_model(
        "openai/gpt 4 | x:1", input_usd_per_mtok=1.0, output_usd_per_mtok=1.0, declared={}
    )
    assert arm.id == "openai/gpt 4 | x:1"
    assert arm.namespaces[0].features == ((f"id={safe_token('openai/gpt 4 | x:1')}", 1.0),)
    assert arm.namespaces[0].features[0][0].startswith("id=~")


@pytest.mark.parametrize("price", [-0.01, float("nan"), float("inf"), True, "1.0", None, 10**400])
def test_bad_prices_are_refused(price: object) -> None:
    with pytest.raises(FeatureError, match=r"The output price of model 'm' must be a finite"):
        arm_for_model(
            "m",
            input_usd_per_mtok=1.0,
            output_usd_per_mtok=price,  # type: ignore[arg-type]
            declared={},
        )


def test_an_overflowing_blend_is_refused() -> None:
    with pytest.raises(FeatureError, match=r"blended price of model 'm' is too large"):
        arm_for_model("m", input_usd_per_mtok=1e308, output_usd_per_mtok=1e308, declared={})


def test_empty_model_id_is_refused() -> None:
    with pytest.raises(FeatureError, match=r"non-empty string"):
        arm_for_model("", input_usd_per_mtok=1.0, output_usd_per_mtok=1.0, declared={})


def test_declared_feature_errors_name_the_model() -> None:
    with pytest.raises(FeatureError, match=r"key 'x' of the declared features of model 'm'"):
        arm_for_model(
            "m", input_usd_per_mtok=1.0, output_usd_per_mtok=1.0, declared={"x": float("nan")}
        )
