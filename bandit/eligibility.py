"""Which models may answer a request: cost, latency, context window, required tags, allow-lists.

Eligibility is decided before the policy scores anything, so exploration happens only among
eligible models and the logged pmf is exact over that set. Every exclusion carries a sentence
naming the constraint that excluded the model; a request with no eligible model is refused
with all of them.

>>> facts = (
...     ModelFacts("cheap", 0.5, 1.5, features={"region": "eu"}),
...     ModelFacts("big", 10.0, 30.0, context_window=8000),
... )
>>> limits = Constraints(max_cost_usd=0.01, require={"region": "eu"})
>>> sorted(exclusions(facts, limits, prompt_tokens=1000.0))
['big']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from bandit.errors import InvalidInputError
from bandit.limits import MAX_COST_USD, MAX_LATENCY_MS

__all__ = [
    "DEFAULT_OUTPUT_TOKENS",
    "MAX_REQUIRED_TAGS",
    "Constraints",
    "ModelFacts",
    "NoEligibleModelError",
    "Tag",
    "estimated_cost_usd",
    "exclusions",
]

Tag = str | int | float | bool

#: Output tokens assumed for a model before any feedback has reported its usage.
DEFAULT_OUTPUT_TOKENS = 500
#: At most this many required tags per request or policy.
MAX_REQUIRED_TAGS = 32


class NoEligibleModelError(InvalidInputError):
    """No candidate model satisfies the request's constraints (422, naming each exclusion)."""

    def __init__(self, policy: str, excluded: Mapping[str, str]) -> None:
        reasons = " ".join(excluded[model] for model in sorted(excluded))
        super().__init__(f"No model of policy {policy!r} is eligible for this request. {reasons}")
        self.excluded = dict(excluded)


@dataclass(frozen=True, slots=True)
class Constraints:
    """Limits a request must meet; None or empty means no limit.

    ``allowed_models`` comes from the caller's key (a tenant's allow-list), never from the body.

    >>> Constraints(max_cost_usd=0.02).tightened(Constraints(max_cost_usd=0.01)).max_cost_usd
    0.01
    >>> Constraints(require={"region": "eu"}).tightened(Constraints(require={"region": "us"}))
    Traceback (most recent call last):
    ...
    bandit.errors.InvalidInputError: Required tag 'region' is 'eu' by the policy and 'us' \
by the request; a model cannot carry both.
    """

    max_cost_usd: float | None = None
    max_latency_ms: float | None = None
    require: Mapping[str, Tag] = field(default_factory=dict)
    allowed_models: frozenset[str] | None = None

    def __post_init__(self) -> None:
        _check_limit("max_cost_usd", self.max_cost_usd, MAX_COST_USD)
        _check_limit("max_latency_ms", self.max_latency_ms, MAX_LATENCY_MS)
        if len(self.require) > MAX_REQUIRED_TAGS:
            raise InvalidInputError(
                f"At most {MAX_REQUIRED_TAGS} required tags are allowed, got {len(self.require)}."
            )
        for name, value in self.require.items():
            if not name:
                raise InvalidInputError("A required tag needs a non-empty name.")
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInputError(
                    f"Required tag {name!r} has the non-finite value {value!r}."
                )

    @property
    def empty(self) -> bool:
        return self == Constraints()

    def tightened(self, other: Constraints, *, by: str = "request") -> Constraints:
        """Both sets of limits at once: the lower maximum, every required tag, the common
        allow-list. Two different values for one tag cannot both hold: a 422."""
        require = dict(self.require)
        for name, value in other.require.items():
            if name in require and not _same_tag(require[name], value):
                raise InvalidInputError(
                    f"Required tag {name!r} is {require[name]!r} by the policy and {value!r} "
                    f"by the {by}; a model cannot carry both."
                )
            require[name] = value
        allowed = self.allowed_models
        if other.allowed_models is not None:
            allowed = other.allowed_models if allowed is None else allowed & other.allowed_models
        return replace(
            self,
            max_cost_usd=_lower(self.max_cost_usd, other.max_cost_usd),
            max_latency_ms=_lower(self.max_latency_ms, other.max_latency_ms),
            require=require,
            allowed_models=allowed,
        )

    def as_dict(self) -> dict[str, object]:
        """The limits that apply, for the decision log (unset ones are left out)."""
        applied: dict[str, object] = {}
        if self.max_cost_usd is not None:
            applied["max_cost_usd"] = self.max_cost_usd
        if self.max_latency_ms is not None:
            applied["max_latency_ms"] = self.max_latency_ms
        if self.require:
            applied["require"] = dict(sorted(self.require.items()))
        if self.allowed_models is not None:
            applied["allowed_models"] = sorted(self.allowed_models)
        return applied


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What eligibility knows about one model: prices, declared features, what was observed.

    ``p95_latency_ms`` and ``output_tokens`` are observed from feedback (None: not enough
    observations yet); ``cooldown`` is the health rule's sentence while the model is cooling
    down after failures, else None.
    """

    id: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    context_window: int | None = None
    features: Mapping[str, Tag] = field(default_factory=dict)
    p95_latency_ms: float | None = None
    output_tokens: float | None = None
    cooldown: str | None = None


def estimated_cost_usd(
    model: ModelFacts, prompt_tokens: float, default_output_tokens: float = DEFAULT_OUTPUT_TOKENS
) -> float:
    """The prompt's tokens at the input price plus the model's observed output length (or the
    default before anything was observed) at the output price.

    >>> estimated_cost_usd(ModelFacts("m", 2.0, 8.0, output_tokens=250.0), 1000.0)
    0.004
    """
    output = model.output_tokens if model.output_tokens is not None else default_output_tokens
    return (prompt_tokens * model.input_usd_per_mtok + output * model.output_usd_per_mtok) / 1e6


def exclusions(
    models: Sequence[ModelFacts],
    constraints: Constraints,
    *,
    prompt_tokens: float,
    default_output_tokens: float = DEFAULT_OUTPUT_TOKENS,
) -> dict[str, str]:
    """Model id -> the sentence saying why it is not eligible; eligible models are absent.

    A model whose p95 latency is not known yet is not excluded by ``max_latency_ms``: there is
    nothing to hold against it, and excluding it would keep it unobserved for ever.
    Cooldowns are not applied here (see ``bandit.decide``).
    """
    excluded: dict[str, str] = {}
    for model in models:
        reason = _exclusion(model, constraints, prompt_tokens, default_output_tokens)
        if reason is not None:
            excluded[model.id] = reason
    return excluded


def _exclusion(
    model: ModelFacts, limits: Constraints, prompt_tokens: float, default_output_tokens: float
) -> str | None:
    name = model.id
    if limits.allowed_models is not None and name not in limits.allowed_models:
        return f"{name}: not in the models this API key may use."
    for tag, wanted in sorted(limits.require.items()):
        if tag not in model.features:
            return f"{name}: requires {tag}={wanted!r}, but the model declares no {tag!r}."
        if not _same_tag(model.features[tag], wanted):
            return f"{name}: requires {tag}={wanted!r}, but the model has {model.features[tag]!r}."
    if model.context_window is not None and prompt_tokens > model.context_window:
        return (
            f"{name}: the prompt's estimated {prompt_tokens:,.0f} tokens exceed its context "
            f"window of {model.context_window:,} tokens."
        )
    if limits.max_cost_usd is not None:
        cost = estimated_cost_usd(model, prompt_tokens, default_output_tokens)
        if cost > limits.max_cost_usd:
            return (
                f"{name}: estimated cost ${cost:.6g} exceeds max_cost_usd "
                f"${limits.max_cost_usd:.6g}."
            )
    if (
        limits.max_latency_ms is not None
        and model.p95_latency_ms is not None
        and model.p95_latency_ms > limits.max_latency_ms
    ):
        return (
            f"{name}: observed p95 latency {model.p95_latency_ms:,.0f} ms exceeds "
            f"max_latency_ms {limits.max_latency_ms:,.0f} ms."
        )
    return None


def _same_tag(a: Tag, b: Tag) -> bool:
    """Tags compare by value within a kind: ``2`` is ``2.0``, but ``true`` is not ``1`` and
    ``"1"`` is not ``1``."""
    for kind in (bool, str):
        if isinstance(a, kind) or isinstance(b, kind):
            return isinstance(a, kind) and isinstance(b, kind) and a == b
    return a == b


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _check_limit(name: str, value: float | None, high: float) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 < value <= high):
        raise InvalidInputError(
            f"{name} must be a number above 0 and at most {high:g}, got {value!r}."
        )
