"""A policy's versions and rollback."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

__all__ = ["RollbackIn", "RollbackOut", "VersionOut", "VersionsOut"]


class VersionOut(Struct):
    """A stored snapshot of a policy's learned state, which a rollback can restore."""

    version: int
    revision: int
    learned_count: int
    #: The snapshot includes every unexcluded reward with ``seq`` up to this mark.
    high_water_mark: int
    created_at: float


class VersionsOut(Struct):
    policy: str
    #: The version new decisions are logged with now.
    live_version: int
    #: Newest first.
    versions: list[VersionOut]


class RollbackIn(Struct, forbid_unknown_fields=True):
    version: Annotated[int, Meta(ge=0)]


class RollbackOut(Struct):
    policy: str
    restored_version: int
    #: The new live version: larger than every version served before.
    version: int
    learned_count: int
    high_water_mark: int
