"""What operators call to manage access: API keys and the audit log."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.http import schemas
from api.http.access import access
from api.http.examples import body_examples
from api.service.keys import KeyService, key_audit_json
from domain import ApiKey, Scope

__all__ = ["AuditController", "KeyController"]

#: Sequence numbers are 64-bit in the database; larger cursors are refused, not overflowed.
_MAX_SEQ = 2**63 - 1


def _key_out(key: ApiKey) -> schemas.KeyOut:
    return msgspec.convert(_key_fields(key), schemas.KeyOut)


def _key_fields(key: ApiKey) -> dict[str, object]:
    return {**key_audit_json(key), "created_at": key.created_at}


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["access"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post("/", **access("admin", body=True))
    async def create(
        self,
        data: JSONBody[Annotated[schemas.KeyIn, body_examples("key")]],
        keys: NamedDependency[KeyService],
        caller: NamedDependency[ApiKey],
    ) -> Response[schemas.CreatedKeyOut]:
        """Create a key; the answer carries its secret, which is never shown again."""
        scopes: frozenset[Scope] = frozenset(data.scopes)
        created = await keys.create(
            name=data.name,
            scopes=scopes,
            policies=None if data.policies is None else frozenset(data.policies),
            models=None if data.models is None else frozenset(data.models),
            expires_at=data.expires_at,
            rate_per_second=data.rate_per_second,
            actor=caller,
        )
        out = msgspec.convert(
            {**_key_fields(created.key), "key": created.secret}, schemas.CreatedKeyOut
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
        keys: NamedDependency[KeyService],
        caller: NamedDependency[ApiKey],
        limit: FromQuery[Annotated[int, Parameter(ge=1, le=1000)]] = 100,
        before: FromQuery[Annotated[int | None, Parameter(ge=1, le=_MAX_SEQ)]] = None,
    ) -> list[schemas.AuditEntryOut]:
        """Admin changes, newest first: the key id, the action, and the state before and after.
        Page with ``before`` (the smallest ``seq`` of the previous page)."""
        entries = await keys.audit(actor=caller, limit=limit, before=before)
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
