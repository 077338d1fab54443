"""Rebuild a policy's learner in a child process, so relearning never holds the server's GIL.

The child reads the log from the database itself, learns, and hands back the snapshot bytes;
the server loads them and catches up the few rewards joined in the meantime. A fresh process
per build (``max_tasks_per_child=1``) returns the build's memory to the system at once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from api.service.cpu_priority import yield_the_cpu
from api.service.live_learner import build_learner, catch_up
from domain import PolicyRecord
from storage.codec import config_from_json
from storage.engine import create_engine
from storage.learning_log import latest_snapshot

__all__ = ["BuiltState", "relearn", "relearn_executor"]


@dataclass(frozen=True, slots=True)
class BuiltState:
    """A learner's state as the child left it: restore with ``Snapshot(data=...)``."""

    data: bytes
    learned_count: int
    high_water_mark: int


def relearn_executor() -> ProcessPoolExecutor:
    # spawn, not fork: the server has threads (database drivers) that a fork would copy
    # mid-operation.
    # The initializer lowers the worker's priority before the build's first task arrives, so
    # that even importing VW and numpy (a second or two of CPU) waits for the routes.
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1,
        initializer=yield_the_cpu,
    )


def relearn(database_url: str, name: str, revision: int, config: dict[str, Any]) -> BuiltState:
    """Build revision ``revision`` of policy ``name`` (its stored ``config``) from the log,
    at the lowest CPU priority: the server's routes come first, the old learner serves."""
    yield_the_cpu()
    return asyncio.run(_relearn(database_url, name, revision, config))


async def _relearn(
    database_url: str, name: str, revision: int, config: dict[str, Any]
) -> BuiltState:
    engine = create_engine(database_url)
    try:
        record = PolicyRecord(name, revision, config_from_json(config), 0.0, 0.0)
        async with engine.connect() as connection:
            snapshot = await latest_snapshot(connection, policy=name, revision=revision)
        live = build_learner(record, snapshot)
        await catch_up(engine, live)
        try:
            return BuiltState(live.learner.snapshot(), live.learner.learned, live.high_water_mark)
        finally:
            live.learner.close()
    finally:
        await engine.dispose()
