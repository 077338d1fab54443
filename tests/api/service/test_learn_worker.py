"""Learning in a child process: the served state is the learned one, and survives the child."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.app import Services, open_services
from api.service.live_learner import build_learner, catch_up
from api.settings import Settings
from domain import PolicyConfig
from storage.learning_log import latest_snapshot
from tests.api.service.test_learning_service import MODELS, _drive, _probe
from tests.clock import FakeClock
from tests.server import start_server


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        snapshot_every=100,
        bootstrap=False,
        learn_in_child=True,
    )
    async with open_services(settings, FakeClock()) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        yield opened


async def _assert_serves_a_rebuild(services: Services, learned: int) -> None:
    live = services.learners.learner("p")
    assert live.learner.learned == learned
    assert live.record is not None
    rebuilt = build_learner(live.record, None)
    assert await catch_up(services.engine, rebuilt) == learned
    for context, arms in _probe():
        served = live.learner.policy.predict(context, arms)  # type: ignore[arg-type]
        assert rebuilt.learner.policy.predict(context, arms) == served  # type: ignore[arg-type]


async def test_the_child_learns_and_the_loop_serves_the_same_state(services: Services) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=tuple(m.id for m in MODELS)))
    await _drive(services, 300, seed=3)
    before = services.learners.learner("p").learner
    await services.learning.step()
    live = services.learners.learner("p")
    # A new serving copy, built from the bytes the child sent.
    assert live.learner is not before
    assert live.state_bytes is not None
    assert live.state_bytes[0] == 300
    await _assert_serves_a_rebuild(services, 300)
    # A snapshot stores those bytes: the loop does not serialize the learner again.
    await services.learning.step(force_snapshot=True)
    async with services.engine.connect() as connection:
        stored = await latest_snapshot(connection, policy="p", revision=live.revision)
    assert stored is not None
    assert (stored.learned_count, stored.data) == live.state_bytes


async def test_a_killed_child_is_replaced_and_seeded_from_the_served_state(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=tuple(m.id for m in MODELS)))
    await _drive(services, 150, seed=4)
    await services.learning.step()
    worker = services.learning.worker
    assert worker is not None
    first = await worker.pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)

    await _drive(services, 150, seed=5)
    # The first round after the kill finds the child gone (the loop's own rounds, woken by
    # the feedback, may be that round); the next starts a new child, seeded with the state
    # the loop serves.
    for _ in range(3):
        await services.learning.step()
    assert "BrokenProcessPool" in caplog.text
    assert await worker.pid() not in (None, first)
    assert services.learning.problems() == []
    await _assert_serves_a_rebuild(services, 300)


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found |= {int(child)} | _descendants(int(child))
    return found


def test_a_server_killed_with_sigkill_leaves_no_process_behind(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'router.db'}", tmp_path)
    try:
        with server.client() as client:
            for i in range(5):
                decision = client.post("/v1/route", json={"prompt": f"q {i}"}).json()
                client.post(
                    "/v1/feedback", json={"decision_id": decision["decision_id"], "score": 0.5}
                ).raise_for_status()
            # Learned, so the learning child exists (forked from the forkserver).
            deadline = time.monotonic() + 30
            while client.get("/v1/status").json()["learned_interactions"] < 5:
                assert time.monotonic() < deadline, "the rewards were never learned"
                time.sleep(0.1)
        left = _descendants(server.process.pid)
        assert len(left) >= 2, left  # the forkserver and the learning child at least
    finally:
        server.kill()
    deadline = time.monotonic() + 15
    while alive := {pid for pid in left if Path(f"/proc/{pid}").exists()}:
        assert time.monotonic() < deadline, f"still running after the server died: {alive}"
        time.sleep(0.2)
