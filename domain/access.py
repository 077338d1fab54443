"""Who may do what: API keys, their scopes and the policies they are limited to.

A key's secret is shown once and stored only as a SHA-256 digest: secrets are 32 random
bytes, so a fast hash is enough (no dictionary to slow down), and the digest is what is
compared, in constant time.

>>> key = ApiKey(id="k1", name="tenant", scopes=frozenset({"route"}), policies=frozenset({"a"}))
>>> key.grants("route"), key.grants("read"), key.may_use("a"), key.may_use("b")
(True, False, True, False)
>>> ApiKey(id="k2", name="ops", scopes=frozenset({"admin"})).grants("read")
True
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Literal, get_args

from bandit.cascade import ESCALATION_SUFFIX

__all__ = [
    "SCOPES",
    "ApiKey",
    "Scope",
    "hash_secret",
    "secret_matches",
]

Scope = Literal["route", "feedback", "review", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(hash_secret(secret), digest)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as the access rules see it (never its secret).

    ``admin`` implies every other scope. ``policies`` of ``None`` means every policy; a
    set limits the key to those policies (a tenant's). ``rate_per_second`` of ``None`` means
    the key is not rate-limited.
    """

    id: str
    name: str
    scopes: frozenset[Scope]
    policies: frozenset[str] | None = None
    #: ``None``: any model; a set: the only models this key's requests may be routed to.
    models: frozenset[str] | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    rate_per_second: float | None = None
    created_at: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"Scopes {unknown} are not among {', '.join(SCOPES)}.")
        if not self.scopes:
            raise ValueError(f"Key {self.name!r} needs at least one scope.")
        if self.policies is not None and not self.policies:
            raise ValueError(
                f"Key {self.name!r} is limited to an empty list of policies: give at least "
                "one policy, or null for every policy."
            )
        if self.models is not None and not self.models:
            raise ValueError(
                f"Key {self.name!r} is limited to an empty list of models: give at least one "
                "model, or null for every model."
            )
        rate = self.rate_per_second
        if rate is not None and not (math.isfinite(rate) and rate > 0.0):
            raise ValueError(f"A rate limit must be a positive number per second, got {rate!r}.")

    def grants(self, scope: Scope) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def may_use(self, policy: str) -> bool:
        """A key for a policy may also use the policy that learns its escalations."""
        if self.policies is None or policy in self.policies:
            return True
        parent = policy.removesuffix(ESCALATION_SUFFIX)
        return parent != policy and parent in self.policies

    @property
    def unlimited(self) -> bool:
        """Not limited to a list of policies."""
        return self.policies is None

    def usable_at(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
