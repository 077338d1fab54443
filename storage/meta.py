"""Installation-wide values kept in the database so every worker agrees on them."""

from __future__ import annotations

import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = ["forget_prompt_key", "prompt_hash_key", "stored_prompt_key"]

_PROMPT_KEY = "prompt_hash_key"


async def prompt_hash_key(connection: AsyncConnection) -> bytes:
    """The secret key for keyed prompt hashes, created once per installation."""
    await _sql.insert_unless_exists(
        connection, _sql.meta, {"key": _PROMPT_KEY, "value": secrets.token_hex(32)}
    )
    value = (
        await connection.execute(select(_sql.meta.c.value).where(_sql.meta.c.key == _PROMPT_KEY))
    ).scalar_one()
    return bytes.fromhex(value)


async def stored_prompt_key(connection: AsyncConnection) -> bytes | None:
    """The prompt key an earlier version kept in the database, if it is still there."""
    value = (
        await connection.execute(select(_sql.meta.c.value).where(_sql.meta.c.key == _PROMPT_KEY))
    ).scalar_one_or_none()
    return None if value is None else bytes.fromhex(value)


async def forget_prompt_key(connection: AsyncConnection) -> None:
    """Delete the prompt key from the database (it lives outside it now)."""
    await connection.execute(delete(_sql.meta).where(_sql.meta.c.key == _PROMPT_KEY))
