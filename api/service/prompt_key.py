"""The installation's prompt key, kept outside the database.

The key makes prompt hashes, hashed prompt words and session keys unguessable: with the key, a
copy of the database alone would let anyone test a word list against every stored word bag.
So it lives in ``BANDIT_ROUTER_PROMPT_KEY`` (64 hex digits) or in a file readable by its
owner only, beside a SQLite database (``prompt.key``). Where neither can be used (PostgreSQL
without the variable, SQLite in memory) it stays in the database, and ``/v1/status`` says so.

An installation that kept it in the database moves it out on start-up, once, with the same
value (every stored hash depends on it): written to the file first, then deleted.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.keys import write_key_file
from storage.meta import forget_prompt_key, prompt_hash_key, stored_prompt_key

__all__ = ["ENV_PROMPT_KEY", "PromptKey", "open_prompt_key"]

ENV_PROMPT_KEY = "BANDIT_ROUTER_PROMPT_KEY"
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PromptKey:
    key: bytes
    #: Where it is kept: ``environment``, ``file`` or ``database``.
    kept_in: str

    @property
    def warning(self) -> str | None:
        if self.kept_in != "database":
            return None
        return (
            "The prompt key is kept in the database, so a copy of the database alone can test "
            f"guessed words against stored word hashes: set {ENV_PROMPT_KEY} (the same value "
            "on every server) to keep it outside."
        )


async def open_prompt_key(
    engine: AsyncEngine, *, value: str | None, file: Path | None
) -> PromptKey:
    """The key from ``value`` (the environment variable), else ``file``; moved there from the
    database when an earlier version kept it there; a new one when there is none yet."""
    outside = _parse(value, ENV_PROMPT_KEY) if value is not None else _read(file)
    async with engine.begin() as connection:
        stored = await stored_prompt_key(connection)
        if outside is None and file is None:  # nowhere outside to keep it
            return PromptKey(await prompt_hash_key(connection), "database")
        if outside is not None and stored is not None and outside != stored:
            raise RuntimeError(
                f"The prompt key in {ENV_PROMPT_KEY if value is not None else file} differs "
                "from the one this database's hashes were made with (still in the database). "
                "Use that key, or remove the variable or file to move the stored one out."
            )
        if outside is None:
            assert file is not None
            key = stored if stored is not None else secrets.token_bytes(32)
            write_key_file(file, key.hex())
            if stored is not None:
                _log.warning("the prompt key moved out of the database to %s", file)
            else:
                _log.info("created the prompt key in %s (readable by this user only)", file)
            outside = key
        if stored is not None:
            await forget_prompt_key(connection)
    return PromptKey(outside, "environment" if value is not None else "file")


def _parse(value: str, source: object) -> bytes:
    try:
        key = bytes.fromhex(value.strip())
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(
            f"The prompt key in {source} must be at least 32 hex digits (64 recommended: "
            "python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    return key


def _read(file: Path | None) -> bytes | None:
    if file is None or not file.exists():
        return None
    return _parse(file.read_text(encoding="utf-8"), file)
