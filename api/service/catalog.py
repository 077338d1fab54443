"""The in-memory view of models and policies that every request consults.

One process owns writes to its database (the group committer), so the catalog is refreshed
by the same code paths that change it, and loaded whole at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.errors import NotFoundError
from bandit.reward import RewardRule
from storage.catalog import list_models, list_policies
from storage.experiments import ExperimentRecord
from storage.records import ModelSpec, PolicyRecord

__all__ = ["Catalog", "read_catalog"]


async def read_catalog(
    engine: AsyncEngine,
) -> tuple[dict[str, ModelSpec], dict[str, PolicyRecord]]:
    """Every model and policy, read on one connection."""
    async with engine.connect() as connection:
        models = {m.id: m for m in await list_models(connection)}
        policies = {p.name: p for p in await list_policies(connection)}
    return models, policies


@dataclass(slots=True)
class Catalog:
    models: dict[str, ModelSpec] = field(default_factory=dict)
    policies: dict[str, PolicyRecord] = field(default_factory=dict)
    #: The running or paused experiment of each policy that has one.
    experiments: dict[str, ExperimentRecord] = field(default_factory=dict)

    async def load(self, engine: AsyncEngine) -> None:
        self.replace(*await read_catalog(engine))

    def replace(self, models: dict[str, ModelSpec], policies: dict[str, PolicyRecord]) -> None:
        """Swap in a whole catalog at once: no request sees policies without their models."""
        self.models, self.policies = models, policies

    def policy(self, name: str) -> PolicyRecord:
        try:
            return self.policies[name]
        except KeyError:
            raise NotFoundError(f"Policy {name!r} does not exist.") from None

    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            raise NotFoundError(f"Model {model_id!r} does not exist.") from None

    def reward_rule(self, policy: str) -> RewardRule:
        return self.policy(policy).config.reward
