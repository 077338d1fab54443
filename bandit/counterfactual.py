"""Train an alternative policy on a log in time order, recording what it would have chosen.

Progressive validation: for each logged decision, oldest first, the alternative first predicts
its pmf over the logged candidates (before it has seen that decision), then learns from the
logged choice, propensity and reward, exactly as it would have online. The recorded pmfs are the
target policy for off-policy estimators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bandit.policy import Policy
from bandit.types import Arm, Context, Interaction, Pmf

__all__ = ["LoggedStep", "progressive_pmfs"]


@dataclass(frozen=True, slots=True)
class LoggedStep:
    context: Context
    arms: tuple[Arm, ...]
    chosen: int
    propensity: float
    reward: float


def progressive_pmfs(policy: Policy, steps: Sequence[LoggedStep]) -> list[Pmf]:
    """One pmf per step (shape ``(len(step.arms),)``), each predicted before learning it."""
    pmfs = []
    for step in steps:
        pmfs.append(policy.predict(step.context, step.arms))
        policy.learn(
            Interaction(step.context, step.arms, step.chosen, step.propensity, step.reward)
        )
    return pmfs
