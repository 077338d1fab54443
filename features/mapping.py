"""Typed key/value features: the one rule set for caller features and declared model features.

- a string is categorical: ``key=value`` with value 1.0;
- a boolean is a flag: ``key`` for True, ``key=false`` for False (so False is not "missing");
- an int or float is numeric: ``key`` with that value.

Keys and string values pass through :func:`~features.sanitize.safe_token`, so no user string can
add a feature or a namespace to a Vowpal Wabbit example.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeAlias

from features.errors import FeatureError
from features.sanitize import safe_token

__all__ = [
    "MAX_ABS_NUMBER",
    "MAX_FEATURES",
    "MAX_KEY_CHARS",
    "MAX_VALUE_CHARS",
    "Scalar",
    "mapping_features",
]

#: A value a caller or an operator may attach to a request or a model.
Scalar: TypeAlias = str | int | float | bool

#: Keys per mapping; bounds the size of every example whatever the caller sends.
MAX_FEATURES = 64
MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 1024
# Vowpal Wabbit stores values as 32-bit floats: anything larger becomes inf inside VW and
# would turn the learned weights into inf/nan, so it is refused here (float32 max).
MAX_ABS_NUMBER = 3.4028234663852886e38


def mapping_features(values: Mapping[str, Scalar], *, kind: str) -> tuple[tuple[str, float], ...]:
    """Return the features of ``values``, sorted by key; ``kind`` names them in errors.

    >>> values = {"tier": "gold", "beta": True, "old": False, "n": 3}
    >>> mapping_features(values, kind="caller features")
    (('beta', 1.0), ('n', 3.0), ('old=false', 1.0), ('tier=gold', 1.0))
    >>> mapping_features({"n": float("nan")}, kind="caller features")
    Traceback (most recent call last):
    ...
    features.errors.FeatureError: The key 'n' of the caller features has the non-finite value nan.
    """
    if len(values) > MAX_FEATURES:
        raise FeatureError(
            f"The {kind} have {len(values)} keys; at most {MAX_FEATURES} are allowed."
        )
    for key in values:
        _check_key(key, kind)
    # Sorted so that the same mapping yields the same features whatever its insertion order.
    return tuple(_feature(key, values[key], kind) for key in sorted(values))


def _check_key(key: object, kind: str) -> None:
    if not isinstance(key, str):
        raise FeatureError(f"Every key of the {kind} must be a string; got {key!r}.")
    if len(key) > MAX_KEY_CHARS:
        raise FeatureError(
            f"The key {key[:32]!r}... of the {kind} is {len(key)} characters long; "
            f"at most {MAX_KEY_CHARS} are allowed."
        )


def _feature(key: str, value: object, kind: str) -> tuple[str, float]:
    name = safe_token(key)
    # bool before int: bool is a subclass of int, but a flag is not a number.
    if isinstance(value, bool):
        return (name, 1.0) if value else (f"{name}=false", 1.0)
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise FeatureError(
                f"The value of key {key!r} of the {kind} is {len(value)} characters long; "
                f"at most {MAX_VALUE_CHARS} are allowed."
            )
        return (f"{name}={safe_token(value)}", 1.0)
    if isinstance(value, int | float):
        return (name, _number(key, value, kind))
    raise FeatureError(
        f"The value of key {key!r} of the {kind} must be a string, a number or a boolean; "
        f"got {value!r}."
    )


def _number(key: str, value: int | float, kind: str) -> float:
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise FeatureError(f"The key {key!r} of the {kind} has the non-finite value {value!r}.")
    if abs(number) > MAX_ABS_NUMBER:
        raise FeatureError(
            f"The key {key!r} of the {kind} has the value {value!r}, larger in magnitude than "
            f"{MAX_ABS_NUMBER:g}, the largest a 32-bit float feature can hold."
        )
    return number
