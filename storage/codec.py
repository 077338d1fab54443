"""JSON forms of domain values, as stored in JSON columns. Pure and lossless.

Each stored form is derived from its domain type's fields (``to_stored``, ``from_stored``):
a field added to a domain type is stored and read back without a line here. What stays here
is what is not a plain mapping of fields: the compact form of contexts and arms (written on
every route), and ``upgrade_config``, the one step that reads a policy config stored by any
earlier version.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import msgspec

from bandit.decide import RoutingNotes
from bandit.eligibility import Constraints
from bandit.reward import (
    DEFAULT_REWARD_RANGE,
    MAX_COST_WEIGHT,
    MAX_LATENCY_WEIGHT,
    MAX_REWARD_MAGNITUDE,
    MAX_SOURCE_WEIGHT,
    MAX_WAIT_SECONDS,
)
from bandit.settings import MAX_BITS, MIN_BITS
from bandit.types import Arm, Context, Namespace
from domain import ModelEndpoint, PolicyConfig
from experiments import ExperimentSpec

__all__ = [
    "arms_from_json",
    "arms_to_json",
    "config_from_json",
    "config_to_json",
    "constraints_from_json",
    "context_from_json",
    "context_to_json",
    "endpoint_from_json",
    "endpoint_to_json",
    "from_stored",
    "routing_from_json",
    "routing_to_json",
    "spec_from_json",
    "spec_to_json",
    "to_stored",
    "upgrade_config",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


def to_stored(value: object) -> Any:
    """A domain value (frozen dataclasses, tuples, mappings, literals) as JSON-ready data,
    derived from its fields; sets and mappings in a stable order."""
    return msgspec.to_builtins(value, order="deterministic")


def from_stored(data: object, kind: type[_T]) -> _T:
    """``data`` read back as ``kind``, checked against its field types and its own
    validation (a stored value that no longer fits fails here, naming the field)."""
    return msgspec.convert(data, kind)


def endpoint_to_json(endpoint: ModelEndpoint | None) -> dict[str, Any] | None:
    return None if endpoint is None else to_stored(endpoint)


def endpoint_from_json(data: dict[str, Any] | None) -> ModelEndpoint | None:
    """The stored endpoint; None (the model cannot be called until it is put again) when an
    earlier version stored one that is refused now (a URL with credentials, CR/LF, no
    host): it is neither called nor shown."""
    if data is None:
        return None
    try:
        return from_stored(data, ModelEndpoint)
    except (msgspec.ValidationError, ValueError):
        _log.warning("a stored endpoint is not valid any more and is ignored; put its model again")
        return None


def _namespaces_to_json(namespaces: tuple[Namespace, ...]) -> list[Any]:
    # The feature pairs stay tuples: the JSON encoder writes them as arrays all the same, and
    # copying each pair into a list was a tenth of a route's CPU.
    return [[ns.name, ns.features] for ns in namespaces]


def _namespaces_from_json(data: list[Any]) -> tuple[Namespace, ...]:
    return tuple(
        Namespace(str(name), tuple((str(f), float(v)) for f, v in features))
        for name, features in data
    )


def context_to_json(context: Context) -> list[Any]:
    return _namespaces_to_json(context.namespaces)


def context_from_json(data: list[Any]) -> Context:
    return Context(_namespaces_from_json(data))


def arms_to_json(arms: tuple[Arm, ...]) -> list[Any]:
    return [{"id": arm.id, "namespaces": _namespaces_to_json(arm.namespaces)} for arm in arms]


def arms_from_json(data: list[Any]) -> tuple[Arm, ...]:
    return tuple(Arm(str(a["id"]), _namespaces_from_json(a["namespaces"])) for a in data)


def config_to_json(config: PolicyConfig) -> dict[str, Any]:
    stored: dict[str, Any] = to_stored(config)
    return stored


def config_from_json(data: dict[str, Any]) -> PolicyConfig:
    """The stored config as a value, whichever version stored it (see ``upgrade_config``)."""
    return from_stored(upgrade_config(data), PolicyConfig)


def upgrade_config(data: dict[str, Any]) -> dict[str, Any]:
    """A policy config as any earlier version stored it, in today's stored form (a new dict).

    Settings added since were absent, or null: they take their defaults, which the domain
    types hold, except where the old behaviour differed (said below). Values accepted before
    the input bounds existed are read at the nearest bound, so that an old policy still loads
    (start-up never fails on one). A budget's resolved value once sat inside the budget.
    """
    upgraded = {key: value for key, value in data.items() if value is not None}
    reward = dict(data["reward"])
    reward["sources"] = {
        str(name): {**rule, "weight": _within(rule["weight"], 0.0, MAX_SOURCE_WEIGHT)}
        for name, rule in reward["sources"].items()
    }
    reward["cost_weight"] = _within(reward["cost_weight"], 0.0, MAX_COST_WEIGHT)
    reward["latency_weight"] = _within(reward["latency_weight"], 0.0, MAX_LATENCY_WEIGHT)
    reward["wait_seconds"] = _within(reward["wait_seconds"], 0.0, MAX_WAIT_SECONDS)
    if reward["default_reward"] is not None:
        reward["default_reward"] = _within(
            reward["default_reward"], -MAX_REWARD_MAGNITUDE, MAX_REWARD_MAGNITUDE
        )
    if reward.get("reward_range") is None:
        reward["reward_range"] = _legacy_reward_range(reward["default_reward"])
    upgraded["reward"] = reward
    exploration = dict(data["exploration"])
    # Configs stored before the setting existed used VW's default.
    exploration.setdefault("learning_rate_decay", 0.5)
    exploration["bits"] = int(_within(exploration["bits"], MIN_BITS, MAX_BITS))
    upgraded["exploration"] = exploration
    budget = data.get("budget")
    if budget is not None and "resolved_usd_per_request" in budget:
        upgraded["budget"] = {
            key: value for key, value in budget.items() if key != "resolved_usd_per_request"
        }
        upgraded["budget_usd"] = budget["resolved_usd_per_request"]
    if data.get("constraints") is not None:
        # Constraints were stored with only the limits that were set.
        upgraded["constraints"] = _set_only(data["constraints"])
    return upgraded


def constraints_from_json(data: dict[str, Any]) -> Constraints:
    return from_stored(_set_only(data), Constraints)


def routing_to_json(notes: RoutingNotes) -> dict[str, Any]:
    stored: dict[str, Any] = to_stored(notes)
    return stored


def routing_from_json(data: dict[str, Any]) -> RoutingNotes:
    return from_stored(_set_only(data), RoutingNotes)


def spec_to_json(spec: ExperimentSpec) -> dict[str, Any]:
    stored: dict[str, Any] = to_stored(spec)
    return stored


def spec_from_json(data: dict[str, Any]) -> ExperimentSpec:
    return from_stored(data, ExperimentSpec)


def _set_only(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value is not None}


def _within(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def _legacy_reward_range(default: float | None) -> tuple[float, float]:
    """Configs stored before the setting existed: the default range, widened to hold their
    default_reward, so that an old policy still loads."""
    low, high = DEFAULT_REWARD_RANGE
    if default is None:
        return low, high
    return min(low, default), max(high, default)
