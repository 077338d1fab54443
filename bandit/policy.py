"""The one interface every policy implements. Policies are small and do no I/O."""

from __future__ import annotations

from typing import Protocol

from bandit.types import Arm, Context, Interaction, Pmf

__all__ = ["Policy"]


class Policy(Protocol):
    """Scores candidate arms for a context and learns from rewarded interactions.

    ``predict`` must not change the policy: the same state and inputs give the same pmf.
    """

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        """Return one probability per arm (shape ``(len(arms),)``), non-negative, summing to 1."""
        ...

    def learn(self, interaction: Interaction) -> None:
        """Update the learned state with one rewarded interaction."""
        ...

    def to_bytes(self) -> bytes:
        """Serialise the learned state; ``restore_policy`` turns it back into a policy."""
        ...
