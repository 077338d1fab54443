"""The learner role on PostgreSQL: one holder at a time, handed over when its session ends."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from storage.engine import create_engine
from storage.leader import AdvisoryLease, SoleLease


def test_one_session_holds_the_role_and_a_dead_one_hands_it_over(postgres_url: str) -> None:
    async def scenario() -> None:
        first_engine, second_engine = create_engine(postgres_url), create_engine(postgres_url)
        first, second = AdvisoryLease(first_engine, key=7), AdvisoryLease(second_engine, key=7)
        try:
            assert await first.hold()
            assert await first.hold()  # still held: the check does not take it twice
            assert not await second.hold()
            held = first._connection
            assert held is not None
            # The session probes a dead peer within seconds, not PostgreSQL's two hours.
            idle = (await held.execute(text("SHOW tcp_keepalives_idle"))).scalar_one()
            assert idle == "5"
            pid = (await held.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            await held.commit()
            async with second_engine.connect() as admin:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # The holder's session died: the other takes the role, and the old holder knows.
            assert await second.hold()
            assert not await first.hold()
            await second.release()
            assert await first.hold()
        finally:
            await first.release()
            await second.release()
            await first_engine.dispose()
            await second_engine.dispose()

    asyncio.run(scenario())


def test_the_only_server_of_a_sqlite_file_always_holds_the_role() -> None:
    assert asyncio.run(SoleLease().hold())
