"""Which key a request carries: the servers' cache of API keys, refreshed from the database.

Keys created or revoked through this process are in force at once; changes made elsewhere
(the CLI on the database, another worker) within ``refresh_seconds``.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runtime.periodic import PeriodicJob
from api.service.clock import Clock
from bandit.errors import UnauthorizedError
from domain import ApiKey, hash_secret, secret_matches
from storage.keys import StoredKey, keys_state, list_keys

__all__ = ["ENV_ADMIN_KEY_ID", "KeyRing"]

_log = logging.getLogger(__name__)

#: The id under which ``BANDIT_ROUTER_ADMIN_KEY`` appears in the audit log.
ENV_ADMIN_KEY_ID = "env-admin"


class KeyRing(PeriodicJob):
    """The keys in force; refreshed every ``refresh_seconds`` when the table changed."""

    task_name = "key-refresh"

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        env_admin_secret: str | None,
        refresh_seconds: float = 0.5,
    ) -> None:
        super().__init__(seconds=refresh_seconds)
        self._engine = engine
        self._clock = clock
        self._by_digest: dict[str, ApiKey] = {}
        self._state: tuple[int, float] = (-1, 0.0)
        self._env: tuple[ApiKey, str] | None = None
        if env_admin_secret:
            self._env = (
                ApiKey(
                    id=ENV_ADMIN_KEY_ID, name="BANDIT_ROUTER_ADMIN_KEY", scopes=frozenset({"admin"})
                ),
                hash_secret(env_admin_secret),
            )
        #: Bumped by every key this process creates or changes (``remember``, ``replace``).
        self._changes = 0

    async def refresh(self) -> None:
        """Reload every key when the table changed since the last look."""
        changes = self._changes
        async with self._engine.connect() as connection:
            state = await keys_state(connection)
            if state == self._state:
                return
            stored = await list_keys(connection)
        if changes != self._changes:
            # A key made here while this read ran may be missing from it: replacing the keys
            # with the read would refuse it until the next refresh. The next one reads it.
            return
        self._replace(stored)
        self._state = state

    def _replace(self, stored: list[StoredKey]) -> None:
        self._by_digest = {digest: key for key, digest in stored}

    def remember(self, key: ApiKey, digest: str) -> None:
        """A key this process just created or revoked: in force before the next refresh."""
        self._changes += 1
        self._by_digest = {
            **{d: k for d, k in self._by_digest.items() if k.id != key.id},
            digest: key,
        }

    def replace(self, key: ApiKey) -> None:
        """A changed key (revoked, say), keeping its digest: in force at once."""
        self._changes += 1
        self._by_digest = {d: key if k.id == key.id else k for d, k in self._by_digest.items()}

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key behind an ``Authorization: Bearer <key>`` header, or ``UnauthorizedError``."""
        if not authorization:
            raise UnauthorizedError(
                "This call needs an API key: send 'Authorization: Bearer <key>'."
            )
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise UnauthorizedError(
                "The Authorization header must be 'Bearer <key>'; got another scheme."
            )
        # The lookup is by the digest of the presented secret, so its timing says nothing
        # about any stored secret; the final comparison is constant-time all the same.
        digest = hash_secret(secret)
        if self._env is not None and secret_matches(secret, self._env[1]):
            return self._env[0]
        key = self._by_digest.get(digest)
        if key is None or not secret_matches(secret, digest):
            raise UnauthorizedError("The API key is not known to this router.")
        if not key.usable_at(self._clock()):
            state = "revoked" if key.revoked_at is not None else "expired"
            raise UnauthorizedError(f"The API key {key.name!r} ({key.id}) is {state}.")
        return key

    async def _round(self) -> None:
        await self.refresh()

    def _round_failed(self, error: str) -> None:
        # A database hiccup must not stop refreshing; the keys stay as they were.
        _log.warning("refreshing API keys failed (%s); keeping the previous set", error)
