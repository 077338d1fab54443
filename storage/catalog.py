"""Models and policies: create or replace, read, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import ConflictError, InvalidInputError, NotFoundError
from domain import MAX_USD_PER_MTOK, ModelSpec, PolicyConfig, PolicyRecord
from storage import _sql
from storage.codec import config_from_json, config_to_json, endpoint_from_json, endpoint_to_json

__all__ = [
    "catalog_state",
    "get_model",
    "get_policy",
    "list_models",
    "list_policies",
    "put_model",
    "put_policy",
]


def _model(row: Any) -> ModelSpec:
    return ModelSpec(
        id=row.id,
        provider=row.provider,
        # Rows stored before prices had a ceiling may exceed it; read at the ceiling so that
        # the catalog (and start-up) still loads.
        input_usd_per_mtok=min(row.input_usd_per_mtok, MAX_USD_PER_MTOK),
        output_usd_per_mtok=min(row.output_usd_per_mtok, MAX_USD_PER_MTOK),
        features=dict(row.features),
        status=row.status,
        endpoint=endpoint_from_json(row.endpoint),
    )


def _policy(row: Any) -> PolicyRecord:
    return PolicyRecord(
        name=row.name,
        revision=row.revision,
        config=config_from_json(row.config),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def put_model(connection: AsyncConnection, *, model: ModelSpec, now: float) -> bool:
    """Create or replace ``model``; True when it was created."""
    values = {
        "provider": model.provider,
        "input_usd_per_mtok": model.input_usd_per_mtok,
        "output_usd_per_mtok": model.output_usd_per_mtok,
        "features": dict(model.features),
        "status": model.status,
        "endpoint": endpoint_to_json(model.endpoint),
        "updated_at": now,
    }
    created = await _sql.insert_unless_exists(
        connection, _sql.models, {"id": model.id, "created_at": now, **values}
    )
    if not created:
        await connection.execute(
            update(_sql.models).where(_sql.models.c.id == model.id).values(**values)
        )
    return created


async def get_model(connection: AsyncConnection, *, model_id: str) -> ModelSpec:
    row = (
        await connection.execute(select(_sql.models).where(_sql.models.c.id == model_id))
    ).first()
    if row is None:
        raise NotFoundError(f"Model {model_id!r} does not exist.")
    return _model(row)


async def list_models(connection: AsyncConnection) -> list[ModelSpec]:
    rows = await connection.execute(select(_sql.models).order_by(_sql.models.c.id))
    return [_model(row) for row in rows]


async def put_policy(
    connection: AsyncConnection,
    *,
    name: str,
    config: PolicyConfig,
    now: float,
    max_policies: int | None = None,
) -> PolicyRecord:
    """Create or replace policy ``name``; every call is a new revision.

    Creating one more policy than ``max_policies`` raises ``ConflictError``: each policy
    holds a learner in memory in every process.
    """
    unknown = await _unknown_models(connection, config.models)
    if unknown:
        raise InvalidInputError(
            f"Policy {name!r} names models that are not registered: {', '.join(unknown)}."
        )
    if max_policies is not None:
        p = _sql.policies
        exists = (await connection.execute(select(p.c.name).where(p.c.name == name))).first()
        count = (await connection.execute(select(func.count()).select_from(p))).scalar_one()
        if exists is None and count >= max_policies:
            raise ConflictError(
                f"Policy {name!r} cannot be created: the router already holds {count} "
                f"policies, its ceiling (max_policies = {max_policies})."
            )
    stored = config_to_json(config)
    created = await _sql.insert_unless_exists(
        connection,
        _sql.policies,
        {"name": name, "revision": 1, "config": stored, "created_at": now, "updated_at": now},
    )
    if not created:
        await connection.execute(
            update(_sql.policies)
            .where(_sql.policies.c.name == name)
            .values(revision=_sql.policies.c.revision + 1, config=stored, updated_at=now)
        )
    return await get_policy(connection, name=name)


async def get_policy(connection: AsyncConnection, *, name: str) -> PolicyRecord:
    row = (
        await connection.execute(select(_sql.policies).where(_sql.policies.c.name == name))
    ).first()
    if row is None:
        raise NotFoundError(f"Policy {name!r} does not exist.")
    return _policy(row)


async def list_policies(connection: AsyncConnection) -> list[PolicyRecord]:
    rows = await connection.execute(select(_sql.policies).order_by(_sql.policies.c.name))
    return [_policy(row) for row in rows]


async def _unknown_models(connection: AsyncConnection, model_ids: tuple[str, ...]) -> list[str]:
    if not model_ids:
        return []
    rows = await connection.execute(select(_sql.models.c.id).where(_sql.models.c.id.in_(model_ids)))
    known = {row.id for row in rows}
    return [model for model in model_ids if model not in known]


async def catalog_state(connection: AsyncConnection) -> tuple[object, ...]:
    """A cheap fingerprint of models, policies and experiments, read in one statement: it
    changes whenever any of them does, so servers reload their catalog only then."""
    m, p, e, t = _sql.models, _sql.policies, _sql.experiments, _sql.experiment_transitions
    row = (
        await connection.execute(
            select(
                select(func.count()).select_from(m).scalar_subquery(),
                select(func.max(m.c.updated_at)).scalar_subquery(),
                select(func.count()).select_from(p).scalar_subquery(),
                select(func.coalesce(func.sum(p.c.revision), 0)).scalar_subquery(),
                select(func.count()).select_from(e).scalar_subquery(),
                select(func.max(e.c.updated_at)).scalar_subquery(),
                select(func.max(t.c.seq)).scalar_subquery(),
            )
        )
    ).one()
    return tuple(row)
