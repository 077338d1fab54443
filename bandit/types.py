"""Frozen domain types shared by every policy, the learner and the reward join.

A *context* and an *arm* are both made of namespaces of named numeric features. Names are
validated here, once, so that no later layer can be handed a name that would add a feature or a
namespace when rendered into a Vowpal Wabbit example (no whitespace, ``|`` or ``:``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = [
    "Arm",
    "Context",
    "Decision",
    "Interaction",
    "Namespace",
    "Pmf",
]

#: One probability per candidate arm, in candidate order, summing to 1.
Pmf = tuple[float, ...]

# A namespace name starts with a letter (VW keys interactions on the first letter); context
# namespaces are lower case and arm namespaces upper case so the two can never collide.
_NAMESPACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
# Printable ASCII without space, "|" or ":" - the three characters VW's text format splits on.
_FEATURE_NAME = re.compile(r"[!-9;-{}~]{1,128}")


@dataclass(frozen=True, slots=True)
class Namespace:
    """A named group of ``(feature name, value)`` pairs.

    >>> Namespace("size", (("chars_64", 1.0),)).name
    'size'
    >>> Namespace("size", (("two words", 1.0),))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Feature name 'two words' in namespace 'size' contains a character outside ...
    """

    name: str
    features: tuple[tuple[str, float], ...]

    def __post_init__(self) -> None:
        if not _NAMESPACE_NAME.fullmatch(self.name):
            raise ValueError(
                f"Namespace name {self.name!r} must start with a letter and contain only "
                "letters, digits and underscores (at most 32 characters)."
            )
        for feature, value in self.features:
            if not _FEATURE_NAME.fullmatch(feature):
                raise ValueError(
                    f"Feature name {feature!r} in namespace {self.name!r} contains a character "
                    "outside printable ASCII without space, '|' or ':'."
                )
            if not math.isfinite(value):
                raise ValueError(
                    f"Feature {feature!r} in namespace {self.name!r} has the non-finite "
                    f"value {value!r}."
                )


# weakref_slot: the VW adapter caches each context's rendered text for as long as it lives.
@dataclass(frozen=True, slots=True, weakref_slot=True)
class Context:
    """The namespaced features of one request."""

    namespaces: tuple[Namespace, ...] = ()


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Arm:
    """One candidate model as the bandit sees it: an id and its own feature namespaces."""

    id: str
    namespaces: tuple[Namespace, ...] = ()

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("An arm needs a non-empty id.")


@dataclass(frozen=True, slots=True)
class Interaction:
    """A decision whose reward is known: what a policy learns from.

    ``propensity`` is the probability the chosen arm had when the decision was logged.
    ``cost_usd`` is what the call on the chosen arm cost, when it was reported: budgeted
    policies learn spend from it, every other policy ignores it.
    """

    context: Context
    arms: tuple[Arm, ...]
    chosen: int
    propensity: float
    reward: float
    cost_usd: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.chosen < len(self.arms):
            raise ValueError(
                f"Chosen index {self.chosen} is outside the {len(self.arms)} candidate arms."
            )
        if not 0.0 < self.propensity <= 1.0:
            raise ValueError(f"Propensity {self.propensity!r} must be in (0, 1].")
        if not math.isfinite(self.reward):
            raise ValueError(f"Reward {self.reward!r} must be a finite number.")
        if self.cost_usd is not None and not (
            math.isfinite(self.cost_usd) and self.cost_usd >= 0.0
        ):
            raise ValueError(f"Cost {self.cost_usd!r} USD must be a finite non-negative number.")


@dataclass(frozen=True, slots=True)
class Decision:
    """One routed request: the full pmf over the candidates and the sampled choice."""

    decision_id: str
    context: Context
    arms: tuple[Arm, ...]
    pmf: Pmf
    chosen: int

    @property
    def model(self) -> str:
        return self.arms[self.chosen].id

    @property
    def propensity(self) -> float:
        return self.pmf[self.chosen]
