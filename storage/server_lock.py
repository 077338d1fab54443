"""One server process per SQLite file, enforced by an operating-system lock.

SQLite has one writer and each server learns and snapshots on its own, so a second ``serve``
on the same file would learn everything twice. ``flock`` is released by the kernel when the
process dies, however it dies: a server killed with -9 leaves nothing locked. Other tools
(the keys CLI) do not take the lock and may still write to the file.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

__all__ = ["ServerLock", "ServerLockedError", "lock_for_serving"]


class ServerLockedError(RuntimeError):
    """Another server process holds the SQLite file."""


class ServerLock:
    """An exclusive ``flock`` on ``<database>.serve.lock``, held until ``release``."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".serve.lock")
        database.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ServerLockedError(
                f"another bandit-router server is using the SQLite file {database}; SQLite "
                "serves from one process (use PostgreSQL to run several)"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def lock_for_serving(url: str) -> ServerLock | None:
    """Take the serving lock of a SQLite file database; None for PostgreSQL or in-memory.

    Raises ``ServerLockedError`` (a one-line message naming the file) when another process
    serves the same file.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return ServerLock(Path(parsed.database or "").resolve())
