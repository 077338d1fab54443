"""Sessions: keep a conversation on the model chosen for its first turn.

A session is found by a keyed hash (HMAC with the installation's prompt key) of either the
caller's session id (``x-bandit-router-session``, the route API's ``session_id``) or the
conversation so far: after each proxied answer the hash of the conversation including that
answer is stored, so the next turn, which carries it, finds its model. No text is stored.
A session unused for ``ttl_seconds`` is forgotten (the learner deletes it).

The key of a conversation's next turn is written after every proxied answer. The client may
send that turn the moment it has the answer, so the key is kept in this process's memory at
once (the next turn usually comes back to the same process) and written to the database in
the background, for the other processes and a restart: the answer never waits for the write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.clock import Clock
from domain import Session
from storage.sessions import delete_sessions_before, find_session, keep_session, move_session
from storage.writer import GroupCommitter

__all__ = ["SessionKeeper"]

_log = logging.getLogger(__name__)
#: Sessions remembered in memory per process (the most recently used): a few megabytes.
_RECENT = 20_000

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
        self._recent: OrderedDict[str, Session] = OrderedDict()
        self._writes: set[asyncio.Task[None]] = set()

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
        recent = self._recent.get(key)
        if recent is not None and recent.updated_at >= since:
            return recent
        async with self._engine.connect() as connection:
            return await find_session(connection, key=key, since=since)

    async def keep(self, session: Session) -> None:
        """Store (or refresh) ``session``, durably before returning."""
        await self._store(self._remember(session))

    def keep_soon(self, session: Session) -> None:
        """Remember ``session`` in this process now and store it in the background."""
        task = asyncio.create_task(self._store_logged(self._remember(session)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _remember(self, session: Session) -> Session:
        stamped = dataclasses.replace(session, updated_at=self._clock())
        self._recent[stamped.key] = stamped
        self._recent.move_to_end(stamped.key)
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        return stamped

    async def _store(self, session: Session) -> None:
        def store(connection: Connection) -> None:
            keep_session(connection, session=session, now=session.updated_at)

        await self._committer.run_sync(store)

    async def _store_logged(self, session: Session) -> None:
        try:
            await self._store(session)
        except Exception:  # this process still remembers it; others route the turn afresh
            _log.exception("could not store session %s", session.key[:12])

    async def close(self) -> None:
        """Stop the expiry job, after the background writes still pending."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await super().close()

    async def move(self, key: str, model: str) -> None:
        """The session's model failed; ``model`` answers it from now on."""
        now = self._clock()
        recent = self._recent.get(key)
        if recent is not None:
            self._recent[key] = dataclasses.replace(recent, model=model, updated_at=now)

        def store(connection: Connection) -> None:
            move_session(connection, key=key, model=model, now=now)

        await self._committer.run_sync(store)

    async def _round(self) -> None:
        before = self._clock() - self._ttl

        def forget(connection: Connection) -> int:
            return delete_sessions_before(connection, before=before)

        await self._committer.run_sync(forget)
