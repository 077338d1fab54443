"""The uniform baseline: every candidate equally likely, nothing learned."""

from __future__ import annotations

from bandit.types import Arm, Context, Interaction, Pmf

__all__ = ["UniformPolicy"]


class UniformPolicy:
    """Chooses uniformly at random; the reference every learned policy must beat."""

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        return tuple(1.0 / len(arms) for _ in arms)

    def learn(self, interaction: Interaction) -> None:
        """Nothing to learn."""

    def to_bytes(self) -> bytes:
        return b"{}"
