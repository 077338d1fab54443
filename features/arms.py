"""Turn a registered model into an :class:`~bandit.types.Arm` with its own feature namespaces.

Arm namespaces start with an upper-case letter and context namespaces with a lower-case one, so
the two never share a Vowpal Wabbit namespace index.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from bandit.types import Arm, Namespace
from features.errors import FeatureError
from features.mapping import Scalar, mapping_features
from features.sanitize import safe_token

__all__ = ["ARM_NAMESPACES", "PRICE_TIER_BOUNDS", "arm_for_model", "blended_price", "price_tier"]

#: Every arm namespace :func:`arm_for_model` can emit, in emission order.
ARM_NAMESPACES: tuple[str, ...] = ("Model", "Price", "Declared")

#: Upper bounds (exclusive, USD per million tokens) of price tiers 0 to 7; tier 8 is the rest.
#: tier_0 < 0.25 <= tier_1 < 0.5 <= tier_2 < 1 <= ... < 16 <= tier_7 < 32 <= tier_8.
PRICE_TIER_BOUNDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


def blended_price(input_usd_per_mtok: float, output_usd_per_mtok: float) -> float:
    """Return the price of a typical million tokens, weighting output three times input.

    >>> blended_price(1.0, 5.0)
    4.0
    """
    return (input_usd_per_mtok + 3 * output_usd_per_mtok) / 4


def price_tier(blended: float) -> int:
    """Return the log2 price tier (0 to 8) of a blended price; see ``PRICE_TIER_BOUNDS``.

    >>> [price_tier(price) for price in (0.0, 0.25, 0.49, 1.0, 31.9, 32.0, 1000.0)]
    [0, 1, 1, 3, 7, 8, 8]
    """
    return bisect.bisect_right(PRICE_TIER_BOUNDS, blended)


def arm_for_model(
    model_id: str,
    *,
    input_usd_per_mtok: float,
    output_usd_per_mtok: float,
    declared: Mapping[str, Scalar],
) -> Arm:
    """Return the arm of a model: its id, its price and its operator-declared features.

    ``declared`` follows the rules of caller features (:mod:`features.mapping`).

    >>> arm = arm_for_model(
    ...     "gpt-4o-mini", input_usd_per_mtok=0.15, output_usd_per_mtok=0.6, declared={}
    ... )
    >>> [namespace.name for namespace in arm.namespaces]
    ['Model', 'Price']
    >>> arm.namespaces[0].features, arm.namespaces[1].features[0]
    ((('id=gpt-4o-mini', 1.0),), ('tier_1', 1.0))
    """
    if not isinstance(model_id, str) or not model_id:
        raise FeatureError(f"A model id must be a non-empty string; got {model_id!r}.")
    blended = blended_price(
        _price(model_id, "input", input_usd_per_mtok),
        _price(model_id, "output", output_usd_per_mtok),
    )
    if not math.isfinite(blended):
        raise FeatureError(f"The blended price of model {model_id!r} is too large to represent.")
    tier = (f"tier_{price_tier(blended)}", 1.0)
    namespaces = [
        Namespace("Model", ((f"id={safe_token(model_id)}", 1.0),)),
        Namespace("Price", (tier, ("log_price", math.log1p(blended)))),
    ]
    pairs = mapping_features(declared, kind=f"declared features of model {model_id!r}")
    if pairs:
        namespaces.append(Namespace("Declared", pairs))
    return Arm(model_id, tuple(namespaces))


def _price(model_id: str, which: str, price: object) -> float:
    # bool is an int, but True is not a price.
    if isinstance(price, int | float) and not isinstance(price, bool):
        try:
            number = float(price)
        except OverflowError:  # an int beyond float range
            number = math.inf
        if math.isfinite(number) and number >= 0:
            return number
    raise FeatureError(
        f"The {which} price of model {model_id!r} must be a finite number of USD per "
        f"million tokens, at least 0; got {price!r}."
    )
