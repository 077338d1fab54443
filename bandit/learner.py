"""The learner owns one policy: it samples decisions and feeds it rewarded interactions."""

from __future__ import annotations

import dataclasses

from bandit.errors import InvalidInputError
from bandit.policy import Policy
from bandit.reward import for_learner
from bandit.sampling import sample_index, seed_for
from bandit.types import Arm, Context, Decision, Interaction

__all__ = ["Learner"]


class Learner:
    """Sampling and bookkeeping around a policy, in one place for every policy.

    ``learned`` counts the interactions learned so far; together with the policy's
    configuration it identifies the learned state a decision was made with.
    """

    def __init__(self, policy: Policy, *, learned: int = 0) -> None:
        self._policy = policy
        self._learned = learned

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def learned(self) -> int:
        return self._learned

    def decide(self, decision_id: str, context: Context, arms: tuple[Arm, ...]) -> Decision:
        """Score ``arms`` and draw one with a generator seeded by ``decision_id``.

        A retry with the same id, state and inputs reproduces the same draw.
        """
        if not arms:
            raise InvalidInputError("There are no candidate models to choose from.")
        ids = [arm.id for arm in arms]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"Candidate models must be distinct, got {ids}.")
        pmf = self._policy.predict(context, arms)
        if len(pmf) != len(arms):
            raise RuntimeError(f"The policy scored {len(pmf)} of {len(arms)} candidates.")
        chosen = sample_index(pmf, seed_for(decision_id))
        return Decision(decision_id=decision_id, context=context, arms=arms, pmf=pmf, chosen=chosen)

    def learn(self, interaction: Interaction) -> None:
        """Learn ``interaction``, its reward clipped into the learner's fixed range
        (``bandit.reward.LEARNER_RANGE``), so no policy's ``reward_range`` changes how fast
        it learns."""
        reward = for_learner(interaction.reward)
        if reward != interaction.reward:
            interaction = dataclasses.replace(interaction, reward=reward)
        self._policy.learn(interaction)
        self._learned += 1

    def snapshot(self) -> bytes:
        return self._policy.to_bytes()

    def close(self) -> None:
        """Free the policy's native state now (a VW workspace holds megabytes of weights).

        A replaced learner must not wait for the garbage collector: a server that rebuilds
        on every policy change would hold one workspace per rebuild until it ran.
        """
        close = getattr(self._policy, "close", None)
        if callable(close):
            close()
