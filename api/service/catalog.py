"""The in-memory view of models and policies that every request consults.

One process owns writes to its database (the group committer), so the catalog is refreshed
by the same code paths that change it, and loaded whole at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.errors import NotFoundError
from bandit.reward import RewardRule
from domain import ExperimentRecord, ModelSpec, PolicyRecord
from storage.catalog import list_models, list_policies

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

    #: Changes this process made (``set_model``, ``set_policy``), numbered, so a reload that
    #: read the database before one of them does not undo it.
    _writes: int = 0
    _recent_models: dict[str, tuple[int, ModelSpec]] = field(default_factory=dict)
    _recent_policies: dict[str, tuple[int, PolicyRecord]] = field(default_factory=dict)

    async def load(self, engine: AsyncEngine) -> None:
        since = self.writes()
        self.replace(*await read_catalog(engine), since=since)

    def writes(self) -> int:
        """How many changes this process made so far: pass it to ``replace`` as ``since``."""
        return self._writes

    def set_model(self, model: ModelSpec) -> None:
        """This process stored ``model``: in force now."""
        self._writes += 1
        self.models[model.id] = model
        self._recent_models[model.id] = (self._writes, model)

    def set_policy(self, record: PolicyRecord) -> None:
        """This process made ``record`` live: in force now."""
        self._writes += 1
        self.policies[record.name] = record
        self._recent_policies[record.name] = (self._writes, record)

    def replace(
        self, models: dict[str, ModelSpec], policies: dict[str, PolicyRecord], *, since: int
    ) -> None:
        """Swap in a whole catalog read from the database, at once (no request sees policies
        without their models), keeping this process's changes made after ``since`` (when the
        read began): the read may have missed them."""
        for model_id, (number, model) in self._recent_models.items():
            if number > since:
                models[model_id] = model
        for name, (number, record) in self._recent_policies.items():
            read = policies.get(name)
            if number > since and (read is None or read.revision <= record.revision):
                policies[name] = record
        self.models, self.policies = models, policies
        self._recent_models.clear()
        self._recent_policies.clear()

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
