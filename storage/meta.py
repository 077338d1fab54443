"""Installation-wide values kept in the database so every worker agrees on them."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import _sql

__all__ = ["prompt_hash_key"]

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
