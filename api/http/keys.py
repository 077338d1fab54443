"""What operators call to manage access: API keys and the audit log."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncEngine

from api.http import schemas
from api.http.access import access
from api.service.keys import KeyService
from bandit.access import ApiKey, Scope
from bandit.errors import ForbiddenError, InvalidInputError
from storage.audit import list_audit

__all__ = ["AuditController", "KeyController"]


def _key_out(key: ApiKey) -> schemas.KeyOut:
    return schemas.KeyOut(
        id=key.id,
        name=key.name,
        scopes=sorted(key.scopes),
        policies=None if key.policies is None else sorted(key.policies),
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        rate_per_second=key.rate_per_second,
        created_at=key.created_at,
    )


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["access"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", **access("admin", body=True))
    async def create(
        self,
        data: JSONBody[schemas.KeyIn],
        keys: NamedDependency[KeyService],
        caller: NamedDependency[ApiKey],
    ) -> Response[schemas.CreatedKeyOut]:
        """Create a key; the answer carries its secret, which is never shown again."""
        scopes: frozenset[Scope] = frozenset(data.scopes)
        created = await keys.create(
            name=data.name,
            scopes=scopes,
            policies=None if data.policies is None else frozenset(data.policies),
            expires_at=data.expires_at,
            rate_per_second=data.rate_per_second,
            actor=caller,
        )
        key = created.key
        out = schemas.CreatedKeyOut(
            id=key.id,
            name=key.name,
            scopes=sorted(key.scopes),
            policies=None if key.policies is None else sorted(key.policies),
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            rate_per_second=key.rate_per_second,
            created_at=key.created_at,
            key=created.secret,
        )
        return Response(out, status_code=HTTP_201_CREATED)

    @get("/", **access("admin", errors=(422,)))
    async def list_keys(
        self, keys: NamedDependency[KeyService], caller: NamedDependency[ApiKey]
    ) -> list[schemas.KeyOut]:
        """Every key, revoked ones included; never a secret."""
        return [_key_out(key) for key in await keys.list(actor=caller)]

    @delete("/{key_id:str}", status_code=HTTP_200_OK, **access("admin", errors=(404,)))
    async def revoke(
        self,
        key_id: FromPath[str],
        keys: NamedDependency[KeyService],
        caller: NamedDependency[ApiKey],
    ) -> schemas.KeyOut:
        """Revoke a key at once (revoking a revoked key changes nothing)."""
        return _key_out(await keys.revoke(key_id, actor=caller))


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["access"]  # noqa: RUF012

    @get("/", **access("admin", errors=(422,)))
    async def audit(
        self,
        engine: NamedDependency[AsyncEngine],
        caller: NamedDependency[ApiKey],
        limit: FromQuery[int] = 100,
        before: FromQuery[int | None] = None,
    ) -> list[schemas.AuditEntryOut]:
        """Admin changes, newest first: the key id, the action, and the state before and after.
        Page with ``before`` (the smallest ``seq`` of the previous page)."""
        if not caller.unlimited:
            raise ForbiddenError(
                f"API key {caller.name!r} is limited to policies; only an admin key for every "
                "policy may read the audit log."
            )
        if not 1 <= limit <= 1000:
            raise InvalidInputError(f"limit must be between 1 and 1000, got {limit}.")
        async with engine.connect() as connection:
            entries = await list_audit(connection, limit=limit, before_seq=before)
        return [
            schemas.AuditEntryOut(
                seq=e.seq,
                key_id=e.key_id,
                action=e.action,
                target=e.target,
                before=e.before,
                after=e.after,
                at=e.at,
            )
            for e in entries
        ]
