"""Operators' calls: register models, define policies, bootstrap an empty installation."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from api.service.catalog import Catalog
from api.service.clock import Clock
from api.service.learners import LearnerRegistry
from bandit.cascade import escalation_policy_name
from bandit.eligibility import Constraints
from bandit.errors import ConflictError, InvalidInputError
from bandit.implicit import ImplicitSignals
from domain import ModelSpec, PolicyConfig, PolicyRecord
from domain.endpoint import private_target
from features import FeatureError, arm_for_model
from storage.audit import record_audit
from storage.catalog import get_model, put_model, put_policy
from storage.codec import config_to_json, endpoint_to_json
from storage.learning_log import count_learnable, observed_cost, set_version_base
from storage.writer import GroupCommitter

__all__ = ["EXAMPLE_MODELS", "SERVICE_ACTOR", "AdminService"]

#: The longest policy name the database holds.
MAX_POLICY_NAME = 128

#: The audit log's key id for changes the service makes by itself (tests, internal calls).
SERVICE_ACTOR = "service"

#: The example catalog a fresh installation starts with, so the README walk-through needs no
#: set-up. Prices are USD per million input / output tokens as published by the providers.
EXAMPLE_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4o", 2.5, 10.0, provider="openai", features={"tier": "frontier"}),
    ModelSpec("gpt-4o-mini", 0.15, 0.6, provider="openai", features={"tier": "small"}),
    ModelSpec("claude-3-5-sonnet", 3.0, 15.0, provider="anthropic", features={"tier": "frontier"}),
    ModelSpec("llama-3.1-8b-instruct", 0.05, 0.08, provider="meta", features={"tier": "small"}),
)


#: A request's size when a budget's reference model has too few observed costs: its cost per
#: request is then estimated from its prices for this many input and output tokens.
ESTIMATE_TOKENS = (1000, 300)
#: Observed costs of calls to the reference model needed before their mean is used.
MIN_OBSERVED_COSTS = 20


async def _reference_cost(connection: AsyncConnection, model: ModelSpec) -> float:
    """A budget reference model's cost per request: the mean of its observed costs (over
    every policy), else an estimate from its prices for an ``ESTIMATE_TOKENS`` request."""
    count, mean = await observed_cost(connection, model=model.id)
    if count >= MIN_OBSERVED_COSTS and mean is not None and mean > 0.0:
        return mean
    tokens_in, tokens_out = ESTIMATE_TOKENS
    return (model.input_usd_per_mtok * tokens_in + model.output_usd_per_mtok * tokens_out) / 1e6


class AdminService:
    def __init__(
        self,
        committer: GroupCommitter,
        catalog: Catalog,
        learners: LearnerRegistry,
        clock: Clock,
        *,
        max_policies: int | None = None,
        provider_key_envs: frozenset[str] = frozenset(),
        allow_private_endpoints: bool = False,
    ) -> None:
        """``provider_key_envs``: the variables a model's ``endpoint.api_key_env`` may name
        (``BANDIT_ROUTER_PROVIDER_KEY_ENVS``); ``allow_private_endpoints``: endpoints may be
        loopback, private or link-local addresses (``..._ALLOW_PRIVATE_ENDPOINTS``)."""
        self._max_policies = max_policies
        self._provider_key_envs = provider_key_envs
        self._allow_private_endpoints = allow_private_endpoints
        self._committer = committer
        self._catalog = catalog
        self._learners = learners
        self._clock = clock

    async def put_model(self, model: ModelSpec, *, actor: str = SERVICE_ACTOR) -> bool:
        """Create or replace ``model``; True when it was created. ``actor`` (a key id) is
        recorded in the audit log, in the same transaction."""
        try:
            # A model whose features cannot become an arm made every route of its policies a
            # 500 (a feature value of 1e308 overflows VW's 32-bit floats): refuse it here.
            arm_for_model(
                model.id,
                input_usd_per_mtok=model.input_usd_per_mtok,
                output_usd_per_mtok=model.output_usd_per_mtok,
                declared=model.features,
            )
        except FeatureError as error:
            raise InvalidInputError(str(error)) from error
        self._check_key_env(model)
        self._check_egress(model)
        now = self._clock()
        before = self._catalog.models.get(model.id)

        async def store(connection: AsyncConnection) -> bool:
            created = await put_model(connection, model=model, now=now)
            await record_audit(
                connection,
                key_id=actor,
                action="model.put",
                target=model.id,
                before=None if before is None else _model_json(before),
                after=_model_json(model),
                at=now,
            )
            return created

        created = await self._committer.run(store)
        self._catalog.set_model(model)
        return created

    def _check_egress(self, model: ModelSpec) -> None:
        """An endpoint at a loopback, private or link-local address only where the operator
        allows it (the proxy checks names again after DNS, on every call)."""
        if model.endpoint is None or self._allow_private_endpoints:
            return
        host = urlsplit(model.endpoint.base_url).hostname or ""
        why = private_target(host)
        if why is not None:
            raise InvalidInputError(
                f"endpoint.base_url of model {model.id!r} points at {host}, {why}: the router "
                "calls public addresses only, unless the operator sets "
                "BANDIT_ROUTER_PROXY_ALLOW_PRIVATE_ENDPOINTS=true (a local vLLM or Ollama)."
            )

    def _check_key_env(self, model: ModelSpec) -> None:
        """Only variables the operator listed may be named: otherwise anyone allowed to edit
        the catalog could make the router send any of its secrets to a URL of their choice."""
        name = None if model.endpoint is None else model.endpoint.api_key_env
        if name is None or name in self._provider_key_envs:
            return
        listed = ", ".join(sorted(self._provider_key_envs)) or "nothing"
        raise InvalidInputError(
            f"endpoint.api_key_env {name!r} of model {model.id!r} is not one of the variables "
            f"the operator allowed: BANDIT_ROUTER_PROVIDER_KEY_ENVS (the setting "
            f"proxy.key_envs) lists {listed}."
        )

    async def put_policy(
        self, name: str, config: PolicyConfig, *, actor: str = SERVICE_ACTOR
    ) -> PolicyRecord:
        """Create or replace policy ``name`` and rebuild its learner from the log.

        A policy with a cascade gets (or updates) the policy that learns its escalation
        decisions, ``<name>.escalation``, with the same reward, exploration and features; that
        policy changes only through its cascade.
        """
        stored = self._catalog.policies.get(name)
        if stored is not None and stored.config.escalation_for is not None:
            raise ConflictError(
                f"Policy {name!r} learns the escalations of policy "
                f"{stored.config.escalation_for!r}; change it through that policy's cascade."
            )
        companion = escalation_policy_name(name)
        if config.cascade is not None:
            if len(companion) > MAX_POLICY_NAME:
                raise InvalidInputError(
                    f"Policy name {name!r} is too long for a cascade: its escalation policy "
                    f"{companion!r} would exceed {MAX_POLICY_NAME} characters."
                )
            existing = self._catalog.policies.get(companion)
            if existing is not None and existing.config.escalation_for != name:
                raise ConflictError(
                    f"Policy {companion!r} exists and is not the escalation policy of {name!r}; "
                    "rename it before giving this policy a cascade."
                )
        judge = None if config.cascade is None else config.cascade.judge
        if judge is not None and judge not in self._catalog.models:
            raise InvalidInputError(
                f"The cascade's judge {judge!r} is not a registered model: PUT /v1/models/{judge} "
                "with an endpoint first."
            )
        self._check_judge(config)
        record = await self._put_policy(name, config, actor=actor)
        if config.cascade is not None:
            await self._put_policy(
                companion,
                dataclasses.replace(
                    config,
                    models=config.cascade.escalate,
                    cascade=None,
                    constraints=Constraints(),
                    escalation_for=name,
                    judge=None,  # the judge grades the answer served, under the first decision
                    implicit=ImplicitSignals(),
                ),
                actor=actor,
            )
        return record

    def _check_judge(self, config: PolicyConfig) -> None:
        """A policy's judge is a catalog model the proxy can call (it has an endpoint)."""
        if config.judge is None:
            return
        model_id = config.judge.model
        model = self._catalog.models.get(model_id)
        if model is None:
            raise InvalidInputError(
                f"The judge {model_id!r} is not a registered model: PUT /v1/models/{model_id} "
                "with an endpoint first."
            )
        if model.endpoint is None:
            raise InvalidInputError(
                f"The judge {model_id!r} has no endpoint, so the router cannot call it: give "
                "the model an endpoint (PUT /v1/models/{id}) or choose another judge."
            )
        if model.status == "retired":
            raise InvalidInputError(f"The judge {model_id!r} is retired.")

    async def _put_policy(self, name: str, config: PolicyConfig, *, actor: str) -> PolicyRecord:
        if not config.models:
            raise InvalidInputError(f"Policy {name!r} needs at least one model.")
        if len(set(config.models)) != len(config.models):
            raise InvalidInputError(f"Policy {name!r} lists a model twice: {list(config.models)}.")
        now = self._clock()
        before = self._catalog.policies.get(name)
        budget = config.budget
        reference = None
        if budget is not None and budget.reference is not None:
            reference = self._catalog.models.get(budget.reference)
            if reference is None:
                raise InvalidInputError(
                    f"Policy {name!r} states a budget relative to model {budget.reference!r}, "
                    "which is not registered."
                )

        current = self._learners.current(name)
        named: list[ModelSpec] = []

        async def store(connection: AsyncConnection) -> PolicyRecord:
            nonlocal config
            if budget is not None:
                cost = None if reference is None else await _reference_cost(connection, reference)
                try:
                    usd = budget.usd_per_request_for(cost)
                except ValueError as error:  # a free reference model
                    raise InvalidInputError(str(error)) from error
                config = dataclasses.replace(config, budget_usd=usd)
            record = await put_policy(
                connection, name=name, config=config, now=now, max_policies=self._max_policies
            )
            named.extend([await get_model(connection, model_id=m) for m in config.models])
            if current is not None:
                # Stored with the revision, so a restart before its rebuild goes live cannot
                # serve the new revision under a version the old one already served.
                count = await count_learnable(connection, policy=name)
                await set_version_base(connection, policy=name, base=current.version + 1 - count)
            await record_audit(
                connection,
                key_id=actor,
                action="policy.put",
                target=name,
                before=None if before is None else _policy_json(before),
                after=_policy_json(record),
                at=now,
            )
            return record

        record = await self._committer.run(store)
        for model in named:
            # Put through another process and not synced here yet: this process must know
            # every model of a policy before the policy goes live in it (a route would 404).
            if model.id not in self._catalog.models:
                self._catalog.set_model(model)
        # A new revision may change how the policy learns: rebuild from the log off the event
        # loop while the old revision keeps serving; answer once it (or a newer one) is live.
        await self._learners.rebuild(record)
        return record

    async def bootstrap(self) -> None:
        """Give an empty installation the example catalog and a ``default`` policy."""
        if self._catalog.policies:
            return
        for model in EXAMPLE_MODELS:
            if model.id not in self._catalog.models:
                await self.put_model(model, actor="bootstrap")
        await self.put_policy(
            "default", PolicyConfig(models=tuple(m.id for m in EXAMPLE_MODELS)), actor="bootstrap"
        )


def _model_json(model: ModelSpec) -> dict[str, Any]:
    endpoint = endpoint_to_json(model.endpoint)
    return {
        "id": model.id,
        "provider": model.provider,
        "input_usd_per_mtok": model.input_usd_per_mtok,
        "output_usd_per_mtok": model.output_usd_per_mtok,
        "features": dict(model.features),
        "status": model.status,
        **({} if endpoint is None else {"endpoint": endpoint}),
    }


def _policy_json(record: PolicyRecord) -> dict[str, Any]:
    return {"revision": record.revision, **config_to_json(record.config)}
