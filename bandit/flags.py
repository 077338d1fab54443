"""What a drift report can flag (imports nothing: the wire structs and the client read it)."""

from __future__ import annotations

from typing import Literal

__all__ = ["FlagKind"]

#: A model's mean reward fell; a model's quality on one task fell; a feature's presence moved.
FlagKind = Literal["reward_drop", "quality_drop", "feature_shift"]
