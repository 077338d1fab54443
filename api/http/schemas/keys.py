"""``/v1/keys`` and ``/v1/audit``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

__all__ = ["AuditEntryOut", "CreatedKeyOut", "KeyIn", "KeyOut", "Scope"]

Scope = Literal["route", "feedback", "review", "read", "admin"]


class KeyIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=5)]
    #: ``null``: every policy; a list limits the key to those policies (a tenant's).
    policies: Annotated[list[str], Meta(min_length=1, max_length=1000)] | None = None
    #: ``null``: any model; a list: the only models this key's requests may be routed to.
    models: Annotated[list[str], Meta(min_length=1, max_length=1000)] | None = None
    #: Epoch seconds after which the key no longer works.
    expires_at: Annotated[float, Meta(gt=0.0, le=1e11)] | None = None
    #: Requests per second (bursts up to one second's worth); ``null``: not limited.
    rate_per_second: Annotated[float, Meta(gt=0.0, le=1e6)] | None = None


class KeyOut(Struct):
    id: str
    name: str
    scopes: list[str]
    policies: list[str] | None
    models: list[str] | None
    expires_at: float | None
    revoked_at: float | None
    rate_per_second: float | None
    created_at: float


class CreatedKeyOut(KeyOut):
    #: The secret, shown this once: send it as ``Authorization: Bearer <key>``.
    key: str


class AuditEntryOut(Struct):
    seq: int
    key_id: str
    action: str
    target: str
    before: Any
    after: Any
    at: float
