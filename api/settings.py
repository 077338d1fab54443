"""Service settings: read once, explicitly, by the CLI and handed to ``create_app``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from storage.engine import default_sqlite_url

__all__ = ["Settings"]

ENV_DATABASE_URL = "BANDIT_ROUTER_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to start. Defaults give the zero-setup SQLite service."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    #: Persist a snapshot after this many newly learned interactions ...
    snapshot_every: int = 1000
    #: ... or after this many seconds with anything new learned.
    snapshot_seconds: float = 30.0
    #: How often the learning loop looks for closed reward windows and new rewards.
    learn_interval_seconds: float = 1.0
    max_candidates: int = 50
    #: Heavy reports (evaluation, drift) computed at once; one more gets 503 with Retry-After.
    max_heavy_jobs: int = 2
    #: Compute heavy reports in child processes (off the event loop and out of the GIL); False
    #: uses a worker thread, for databases a child cannot open (SQLite in memory).
    heavy_jobs_in_processes: bool = True
    #: Create the example catalog and the ``default`` policy when the database has none.
    bootstrap: bool = True

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] = os.environ,
        *,
        database_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
    ) -> Settings:
        """Command-line values win over ``BANDIT_ROUTER_DATABASE_URL``, which wins over
        the default SQLite file ``./var/bandit-router.db``."""
        url = database_url or environ.get(ENV_DATABASE_URL) or default_sqlite_url(Path("var"))
        return cls(database_url=url, host=host, port=port)
