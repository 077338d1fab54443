"""Sessions: keep a conversation on the model chosen for its first turn.

A session is found by a keyed hash (HMAC with the installation's prompt key) of either the
caller's session id (``x-bandit-router-session``, the route API's ``session_id``) or the
conversation so far: after each proxied answer the hash of the conversation including that
answer is stored, so the next turn, which carries it, finds its model. No text is stored.
A session unused for ``ttl_seconds`` is forgotten (the learner deletes it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.clock import Clock
from domain import Session
from storage.sessions import delete_sessions_before, find_session, keep_session, move_session
from storage.writer import GroupCommitter

__all__ = ["SessionKeeper"]

#: A day: long enough for any chat or agent run, short enough to keep the table small.
DEFAULT_TTL_SECONDS = 86_400.0


class SessionKeeper(PeriodicJob):
    task_name = "sessions"

    def __init__(
        self,
        engine: AsyncEngine,
        committer: GroupCommitter,
        clock: Clock,
        *,
        key: bytes,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        leading: Callable[[], bool],
        seconds: float = 60.0,
    ) -> None:
        super().__init__(seconds=seconds, leading=leading)
        self._engine = engine
        self._committer = committer
        self._clock = clock
        self._key = key
        self._ttl = ttl_seconds

    def session_key(self, policy: str, session_id: str) -> str:
        return self._hash("session", policy, session_id)

    def conversation_key(self, policy: str, conversation: str) -> str:
        return self._hash("conversation", policy, conversation)

    def request_key(self, policy: str, conversation: str) -> str:
        """The key of a whole request's conversation (its regeneration sends it again)."""
        return self._hash("request", policy, conversation)

    def _hash(self, kind: str, policy: str, value: str) -> str:
        message = "\0".join((kind, policy, value)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def find(self, key: str, *, within: float | None = None) -> Session | None:
        """The session under ``key`` used in the last ``within`` seconds (default: its time
        to live)."""
        since = self._clock() - (self._ttl if within is None else within)
        async with self._engine.connect() as connection:
            return await find_session(connection, key=key, since=since)

    async def keep(self, session: Session) -> None:
        """Store (or refresh) ``session``."""
        now = self._clock()

        def store(connection: Connection) -> None:
            keep_session(connection, session=session, now=now)

        await self._committer.run_sync(store)

    async def move(self, key: str, model: str) -> None:
        """The session's model failed; ``model`` answers it from now on."""
        now = self._clock()

        def store(connection: Connection) -> None:
            move_session(connection, key=key, model=model, now=now)

        await self._committer.run_sync(store)

    async def _round(self) -> None:
        before = self._clock() - self._ttl

        def forget(connection: Connection) -> int:
            return delete_sessions_before(connection, before=before)

        await self._committer.run_sync(forget)
