"""Group commit: batches share transactions, and one failing operation spares the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bandit.errors import NotFoundError
from storage import _sql
from storage.engine import create_engine, create_writer_engine
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


@pytest.fixture
async def committer(database_url: str) -> AsyncIterator[tuple[GroupCommitter, AsyncEngine]]:
    """A committer as the service builds it: on SQLite with its own writer thread."""
    engine = create_engine(database_url)
    await upgrade(engine)
    committer = GroupCommitter(engine, writer_engine=create_writer_engine(database_url))
    committer.start()
    try:
        yield committer, engine
    finally:
        await committer.close()
        await engine.dispose()


async def _meta_keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.execute(select(_sql.meta.c.key))).scalars())


async def test_inserts_in_one_batch_share_one_statement_and_skip_existing_keys(
    committer: tuple[GroupCommitter, AsyncEngine],
) -> None:
    writer, engine = committer
    assert await writer.insert(_sql.meta, {"key": "old", "value": "v"})
    before = writer.transactions
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        results = await asyncio.gather(
            *(writer.insert(_sql.meta, {"key": f"k{i}", "value": "v"}) for i in range(20)),
            writer.insert(_sql.meta, {"key": "old", "value": "changed"}),
            writer.insert(_sql.meta, {"key": "k3", "value": "twice"}),
        )
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("INSERT")]) == 1
    # Exactly one of the two inserts of k3 inserted it; the existing key is left untouched.
    assert results[:20].count(True) + results[21] == 20
    assert results[20] is False
    assert writer.transactions == before + 1
    assert await _meta_keys(engine) == {"old", *(f"k{i}" for i in range(20))}
    async with engine.connect() as connection:
        values = dict((await connection.execute(select(_sql.meta.c.key, _sql.meta.c.value))).all())
    assert values["old"] == "v"
    assert (results[3], results[21], values["k3"]) == (True, False, "v")  # the first one kept


async def test_a_failing_plain_operation_spares_its_batch_and_leaves_nothing_behind(
    committer: tuple[GroupCommitter, AsyncEngine],
) -> None:
    writer, engine = committer

    def put(key: str) -> Callable[[Connection], str]:
        def operation(connection: Connection) -> str:
            connection.execute(_sql.meta.insert().values(key=key, value="v"))
            return key

        return operation

    def half_then_fail(connection: Connection) -> None:
        connection.execute(_sql.meta.insert().values(key="half", value="v"))
        connection.execute(_sql.meta.insert().values(key="dup", value="v"))

    def missing(connection: Connection) -> None:
        raise NotFoundError("Decision 'x' does not exist.")

    await writer.run_sync(put("dup"))
    results = await asyncio.gather(
        *(writer.run_sync(put(f"k{i}")) for i in range(10)),
        writer.run_sync(half_then_fail),
        writer.run_sync(missing),
        writer.insert(_sql.meta, {"key": "row", "value": "v"}),
        return_exceptions=True,
    )
    assert list(results[:10]) == [f"k{i}" for i in range(10)]
    assert isinstance(results[10], IntegrityError)
    assert isinstance(results[11], NotFoundError)
    assert results[12] is True
    # The failing operation's first insert was rolled back with it.
    assert await _meta_keys(engine) == {"dup", "row", *(f"k{i}" for i in range(10))}


async def test_plain_operations_run_in_the_writers_own_thread_on_sqlite(
    committer: tuple[GroupCommitter, AsyncEngine], database_url: str
) -> None:
    writer, _ = committer

    def where(connection: Connection) -> str:
        return threading.current_thread().name

    thread = await writer.run_sync(where)
    if database_url.startswith("sqlite"):
        assert thread.startswith("group-commit")
    else:  # asyncpg has no thread to hop to: the event loop's connection runs it
        assert thread == threading.main_thread().name
