"""Group commit: batches share transactions, and one failing operation spares the others."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bandit.errors import NotFoundError
from storage import _sql
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.writer import GroupCommitter


async def test_a_failing_operation_does_not_take_its_batch_down(database_url: str) -> None:
    engine = create_engine(database_url)
    await upgrade(engine)
    committer = GroupCommitter(engine)
    committer.start()
    try:

        def put(key: str) -> object:
            async def operation(connection: AsyncConnection) -> str:
                await connection.execute(_sql.meta.insert().values(key=key, value="v"))
                return key

            return operation

        async def missing(connection: AsyncConnection) -> None:
            raise NotFoundError("Decision 'x' does not exist.")

        await committer.run(put("dup"))  # type: ignore[arg-type]
        results = await asyncio.gather(
            *(committer.run(put(f"k{i}")) for i in range(20)),  # type: ignore[arg-type]
            committer.run(put("dup")),  # type: ignore[arg-type]
            committer.run(missing),
            return_exceptions=True,
        )
        assert list(results[:20]) == [f"k{i}" for i in range(20)]  # type: ignore[comparison-overlap]
        assert isinstance(results[20], IntegrityError)
        assert isinstance(results[21], NotFoundError)
        async with engine.connect() as connection:
            keys = set((await connection.execute(select(_sql.meta.c.key))).scalars())
        assert keys == {"dup", *(f"k{i}" for i in range(20))}
    finally:
        await committer.close()
        await engine.dispose()


async def test_run_after_close_is_refused(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    committer = GroupCommitter(engine)
    committer.start()
    await committer.close()

    async def noop(connection: AsyncConnection) -> None:
        return None

    with pytest.raises(RuntimeError, match="not running"):
        await committer.run(noop)
    await engine.dispose()


async def test_each_operation_reports_how_long_it_waited_before_it_began(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    committer = GroupCommitter(engine)
    waits: list[float] = []
    committer.on_wait = waits.append
    committer.start()
    try:

        async def slow(connection: AsyncConnection) -> None:
            await asyncio.sleep(0.2)

        async def quick(connection: AsyncConnection) -> None:
            return None

        # Queued together, so one batch: the second waits behind the first's 200 ms.
        await asyncio.gather(committer.run(slow), committer.run(quick))
        assert len(waits) == 2
        assert waits[0] < 0.2 <= waits[1]
    finally:
        await committer.close()
        await engine.dispose()
