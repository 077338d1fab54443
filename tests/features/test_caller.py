import pytest

from features.caller import MAX_CALLER_FEATURES, caller_namespace
from features.errors import FeatureError
from features.mapping import MAX_KEY_CHARS, MAX_VALUE_CHARS, Scalar
from features.sanitize import safe_token


def _features(values: dict[str, Scalar]) -> tuple[tuple[str, float], ...]:
    namespace = caller_namespace(values)
    assert namespace is not None
    assert namespace.name == "caller"
    return namespace.features


def test_strings_are_categorical() -> None:
    assert _features({"tier": "gold"}) == (("tier=gold", 1.0),)


def test_booleans_are_flags_and_false_is_not_missing() -> None:
    assert _features({"beta": True}) == (("beta", 1.0),)
    assert _features({"beta": False}) == (("beta=false", 1.0),)
    assert caller_namespace({}) is None


@pytest.mark.parametrize(("value", "number"), [(3, 3.0), (-2, -2.0), (0, 0.0), (0.25, 0.25)])
def test_numbers_are_numeric(value: float, number: float) -> None:
    assert _features({"n": value}) == (("n", number),)


def test_unsafe_keys_and_values_are_hashed() -> None:
    ((name, value),) = _features({"user tier": "gold | premium:1"})
    assert name == f"{safe_token('user tier')}={safe_token('gold | premium:1')}"
    assert name.count("=") == 1
    assert value == 1.0


def test_features_are_sorted_by_key_whatever_the_insertion_order() -> None:
    values: dict[str, Scalar] = {"b": "x", "a": 1, "c": True, "a b": False}
    reversed_values = dict(reversed(list(values.items())))
    assert _features(values) == _features(reversed_values)
    assert _features(values) == (
        ("a", 1.0),
        (f"{safe_token('a b')}=false", 1.0),
        ("b=x", 1.0),
        ("c", 1.0),
    )


def test_limits_are_inclusive() -> None:
    many = {f"k{index}": index + 1 for index in range(MAX_CALLER_FEATURES)}
    assert len(_features(dict(many))) == MAX_CALLER_FEATURES
    assert len(_features({"k" * MAX_KEY_CHARS: 1})) == 1
    assert len(_features({"k": "v" * MAX_VALUE_CHARS})) == 1


def test_too_many_keys() -> None:
    many: dict[str, Scalar] = {f"k{index}": 1 for index in range(MAX_CALLER_FEATURES + 1)}
    with pytest.raises(FeatureError, match=r"65 keys; at most 64"):
        caller_namespace(many)


def test_key_too_long() -> None:
    with pytest.raises(FeatureError, match=r"129 characters long; at most 128"):
        caller_namespace({"k" * (MAX_KEY_CHARS + 1): 1})


def test_value_too_long() -> None:
    with pytest.raises(FeatureError, match=r"key 'note' .* 1025 characters long; at most 1024"):
        caller_namespace({"note": "v" * (MAX_VALUE_CHARS + 1)})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_non_finite_numbers_name_the_key(value: float) -> None:
    with pytest.raises(FeatureError, match=r"The key 'budget' of the caller features .*\.$"):
        caller_namespace({"budget": value})


@pytest.mark.parametrize("value", [3.5e38, -1e39])
def test_numbers_beyond_float32_are_refused(value: float) -> None:
    with pytest.raises(FeatureError, match=r"'budget'.*32-bit float"):
        caller_namespace({"budget": value})


@pytest.mark.parametrize("value", [None, [1], {"a": 1}, b"bytes"])
def test_other_value_types_are_refused(value: object) -> None:
    with pytest.raises(FeatureError, match=r"key 'k' .* must be a string, a number or a boolean"):
        caller_namespace({"k": value})  # type: ignore[dict-item]


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(FeatureError, match=r"must be a string; got 3"):
        caller_namespace({3: "x"})  # type: ignore[dict-item]


def test_feature_error_is_a_value_error() -> None:
    assert issubclass(FeatureError, ValueError)
