"""How wire structs and domain values are converted into each other: by their shared field
names, so a field added to both travels without a line of conversion."""

from __future__ import annotations

import math
from typing import Any, TypeVar

import msgspec

from bandit.errors import InvalidInputError

__all__ = ["finite", "same_fields", "to_domain", "to_wire"]

_S = TypeVar("_S", bound=msgspec.Struct)
_T = TypeVar("_T")


def finite(name: str, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}.")
    return value


def same_fields(value: object, kind: type[msgspec.Struct], but: tuple[str, ...] = ()) -> Any:
    """The attributes of domain ``value`` that wire struct ``kind`` has fields of (except
    ``but``): a field added to both travels without a line here."""
    return {name: getattr(value, name) for name in kind.__struct_fields__ if name not in but}


def to_wire(value: object, kind: type[_S]) -> _S:
    """Domain ``value`` as wire struct ``kind``, field by field and nested values too."""
    return msgspec.convert(value, kind, from_attributes=True)


def to_domain(body: msgspec.Struct, kind: type[_T]) -> _T:
    """Wire section ``body`` as domain type ``kind``, which validates it."""
    return msgspec.convert(body, kind, from_attributes=True)
