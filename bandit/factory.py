"""Build a policy from its settings, fresh or from a snapshot."""

from __future__ import annotations

from collections.abc import Iterable

from bandit.budget import (
    BudgetedPolicy,
    ControllerSettings,
    RewardRegressor,
    is_budget_snapshot,
    snapshot_budget_usd,
    split_snapshot,
)
from bandit.context_free_epsilon import ContextFreeEpsilonGreedy
from bandit.policy import Policy
from bandit.settings import ExplorationSettings
from bandit.uniform import UniformPolicy

__all__ = ["make_policy"]


def make_policy(
    settings: ExplorationSettings,
    *,
    context_namespaces: Iterable[str],
    arm_namespaces: Iterable[str],
    snapshot: bytes | None = None,
    budget_usd: float | None = None,
    controller: ControllerSettings | None = None,
) -> Policy:
    """A policy for ``settings``; with ``snapshot`` (from ``to_bytes``) its learned state too.

    Every context namespace interacts with every arm namespace, so each model learns its own
    weights for each request feature. With ``budget_usd`` the policy is a
    :class:`~bandit.budget.BudgetedPolicy` aiming at that spend per request: SquareCB over a
    VW reward regressor, a cost model and a cost-weight controller (``controller``). A
    budgeted snapshot makes a budgeted policy without ``budget_usd``: it carries its budget.
    """
    if budget_usd is None and snapshot is not None and is_budget_snapshot(snapshot):
        budget_usd = snapshot_budget_usd(snapshot)
    if budget_usd is not None:
        if settings.algorithm != "squarecb":
            raise ValueError(
                f"A budget needs the squarecb algorithm, not {settings.algorithm!r}: the "
                "controller's cost weight enters SquareCB's scores."
            )
        state, regressor_bytes = (None, None) if snapshot is None else split_snapshot(snapshot)
        regressor = _vw_regressor(settings, context_namespaces, arm_namespaces, regressor_bytes)
        return BudgetedPolicy(regressor, budget_usd, settings, controller, state=state)
    if settings.algorithm == "uniform":
        return UniformPolicy()
    if settings.algorithm == "context_free_epsilon":
        policy = ContextFreeEpsilonGreedy(
            epsilon=settings.epsilon, min_probability=settings.min_probability
        )
        if snapshot is not None:
            policy.load_bytes(snapshot)
        return policy
    # Imported here so the numpy baselines work without loading the VW extension.
    from bandit.vw_policy import VowpalPolicy

    return VowpalPolicy(settings, _pairs(context_namespaces, arm_namespaces), model_bytes=snapshot)


def _vw_regressor(
    settings: ExplorationSettings,
    context_namespaces: Iterable[str],
    arm_namespaces: Iterable[str],
    model_bytes: bytes | None,
) -> RewardRegressor:
    from bandit.vw_policy import VowpalRegressor

    pairs = _pairs(context_namespaces, arm_namespaces)
    return VowpalRegressor(settings, pairs, model_bytes=model_bytes)


def _pairs(
    context_namespaces: Iterable[str], arm_namespaces: Iterable[str]
) -> list[tuple[str, str]]:
    arm_list = list(arm_namespaces)
    context_list = list(context_namespaces)
    # VW keys interactions on first letters: lower case for context, upper case for arms keeps
    # a context namespace from ever sharing a letter with an arm namespace.
    if not all(name[:1].islower() for name in context_list):
        raise ValueError(f"Context namespaces must start with a lower-case letter: {context_list}.")
    if not all(name[:1].isupper() for name in arm_list):
        raise ValueError(f"Arm namespaces must start with an upper-case letter: {arm_list}.")
    return [(c, a) for c in context_list for a in arm_list]
