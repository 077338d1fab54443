"""Time and ids are injected so tests can pin them."""

from __future__ import annotations

import time
import uuid
from typing import Protocol

__all__ = ["Clock", "new_id", "wall_clock"]


class Clock(Protocol):
    def __call__(self) -> float:
        """Seconds since the epoch."""
        ...


def wall_clock() -> float:
    return time.time()


def new_id() -> str:
    return uuid.uuid4().hex
