"""A budgeted policy's learned state as bytes: its own state, then the reward regressor's."""

from __future__ import annotations

import json
import struct
from typing import Any

from bandit.types import Arm, Context, Namespace

__all__ = ["is_budget_snapshot", "snapshot_budget_usd", "split_snapshot"]


def _context_state(context: Context) -> list[Any]:
    return [[ns.name, [[f, v] for f, v in ns.features]] for ns in context.namespaces]


def _context_from(state: list[Any]) -> Context:
    return Context(
        tuple(
            Namespace(str(name), tuple((str(f), float(v)) for f, v in features))
            for name, features in state
        )
    )


def _arm_state(arm: Arm) -> list[Any]:
    return [arm.id, _context_state(Context(arm.namespaces))]


def _arm_from(state: list[Any]) -> Arm:
    return Arm(str(state[0]), _context_from(state[1]).namespaces)


_MAGIC = b"bandit-router budget v1\n"


def is_budget_snapshot(data: bytes) -> bool:
    return data.startswith(_MAGIC)


def snapshot_budget_usd(data: bytes) -> float:
    """The budget a budgeted snapshot's controller aims at, in USD per request."""
    return float(split_snapshot(data)[0]["controller"]["budget_usd"])


def split_snapshot(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A budgeted snapshot's own state and its regressor's bytes."""
    if not is_budget_snapshot(data):
        raise ValueError("This snapshot is not a budgeted policy's snapshot.")
    offset = len(_MAGIC)
    (length,) = struct.unpack_from(">Q", data, offset)
    offset += 8
    state = json.loads(data[offset : offset + length].decode("utf-8"))
    return state, data[offset + length :]
