"""Heavy reports run off the event loop, a bounded number at once, and stop when abandoned."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Message, ReceiveMessage

from api.app import open_services
from api.http.disconnect import ClientDisconnected, unless_disconnected
from api.http.errors import exception_handlers
from api.service.offload import HeavyJobs, ProcessRunner, ThreadRunner
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.errors import BusyError, InvalidInputError, RouterError
from domain import FeedbackInput
from storage.export import export_lines

T = TypeVar("T")


class GatedRunner:
    """Holds every job until ``release`` is set, then runs it in a thread."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        self.started.set()
        await self.release.wait()
        return await ThreadRunner().run(job, *args)


async def test_routes_are_answered_while_an_evaluation_runs_and_a_second_is_refused(
    tmp_path: Path,
) -> None:
    runner = GatedRunner()
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", max_heavy_jobs=1)
    async with open_services(settings, runner=runner) as services:
        evaluation = asyncio.create_task(services.evaluation.evaluate("default"))
        await asyncio.wait_for(runner.started.wait(), 10)
        # The evaluation is in progress; routing and feedback go on.
        decision = await asyncio.wait_for(
            services.router.route(RouteRequest(policy="default", prompt="hello")), 10
        )
        await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source="user", score=1.0)
        )
        assert not evaluation.done()
        with pytest.raises(BusyError, match=r"limit is 1\), so this drift report was not") as busy:
            await services.drift.drift("default", _drift_query())
        assert busy.value.retry_after_seconds > 0
        runner.release.set()
        # The real job ran once released: one decision is too few to evaluate.
        with pytest.raises(InvalidInputError, match="needs at least 2"):
            await asyncio.wait_for(evaluation, 30)
        assert services.heavy_jobs.running == 0


def _drift_query() -> Any:
    from api.service.drift import DriftQuery

    return DriftQuery()


def test_the_concurrency_bound_answers_503_with_retry_after() -> None:
    handler = exception_handlers[RouterError]
    error = BusyError("The server is busy; try again in 10 seconds.", retry_after_seconds=10)
    response = handler(None, error)  # type: ignore[arg-type]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    assert isinstance(response.content, dict)
    assert response.content["detail"] == "The server is busy; try again in 10 seconds."


def test_a_busy_error_survives_the_trip_from_a_child_process() -> None:
    error = pickle.loads(pickle.dumps(BusyError("Busy.", retry_after_seconds=7)))
    assert isinstance(error, BusyError)
    assert (str(error), error.retry_after_seconds) == ("Busy.", 7)


def _pid() -> int:
    return os.getpid()


def _fail() -> None:
    raise InvalidInputError("Value 3 is not allowed.")


@pytest.fixture(autouse=True)
def _children_import_these_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs defined in this module reach a child by reference: the child imports
    ``tests.api.service.test_offload`` with the parent's ``sys.path``, which pytest's importlib mode
    leaves without the repository root."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))


def _sleep_then_touch(path: str) -> None:
    time.sleep(30)
    Path(path).write_text("finished")


async def test_the_process_runner_runs_jobs_in_another_process_and_returns_errors() -> None:
    runner = ProcessRunner()
    try:
        assert await runner.run(_pid) != os.getpid()
        with pytest.raises(InvalidInputError, match="Value 3 is not allowed"):
            await runner.run(_fail)
    finally:
        runner.close()


async def test_cancelling_a_process_job_terminates_its_child(tmp_path: Path) -> None:
    runner = ProcessRunner()
    marker = tmp_path / "finished"
    try:
        job = asyncio.create_task(runner.run(_sleep_then_touch, str(marker)))
        deadline = time.monotonic() + 30
        while runner.running == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert runner.running == 1
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        assert runner.running == 0
        assert not marker.exists()
    finally:
        runner.close()


def _write_pid_then_sleep(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(30)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("wait", [0.0, 0.5])
async def test_a_job_cancelled_while_or_after_starting_leaves_no_process(
    tmp_path: Path, wait: float
) -> None:
    runner = ProcessRunner()
    pid_file = tmp_path / "pid"
    try:
        job = asyncio.create_task(runner.run(_write_pid_then_sleep, str(pid_file)))
        await asyncio.sleep(wait)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        await asyncio.sleep(1.0)  # a child that escaped would have written its pid by now
        if pid_file.exists():
            pid = int(pid_file.read_text())
            deadline = time.monotonic() + 5
            while _alive(pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert not _alive(pid)
        assert runner.running == 0
    finally:
        runner.close()


async def test_heavy_jobs_refuse_beyond_the_bound_and_free_the_slot_after() -> None:
    runner = GatedRunner()
    jobs = HeavyJobs(runner, max_jobs=1)
    first = asyncio.create_task(jobs.run("evaluation", _pid))
    await runner.started.wait()
    with pytest.raises(BusyError, match="so this evaluation was not started"):
        await jobs.run("evaluation", _pid)
    runner.release.set()
    assert await first == os.getpid()
    assert await jobs.run("evaluation", _pid) == os.getpid()


async def test_work_is_cancelled_when_the_client_disconnects() -> None:
    cancelled = asyncio.Event()

    async def forever() -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    messages: Iterator[ReceiveMessage] = iter(
        [{"type": "http.request", "body": b"", "more_body": False}]
    )

    async def receive() -> ReceiveMessage:
        message = next(messages, None)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    with pytest.raises(ClientDisconnected):
        await asyncio.wait_for(unless_disconnected(receive, forever()), 10)
    assert cancelled.is_set()


async def test_work_finishes_while_the_client_stays() -> None:
    async def receive() -> ReceiveMessage:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert await unless_disconnected(receive, answer()) == 42


async def test_an_export_stops_reading_the_log_when_its_client_disconnects(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}")
    async with open_services(settings, runner=ThreadRunner()) as services:
        for i in range(60):
            await services.router.route(RouteRequest(policy="default", prompt=f"prompt {i}"))
        produced = 0
        closed = False

        async def lines() -> Any:
            nonlocal produced, closed
            try:
                async for line in export_lines(
                    services.engine, policy="default", fmt="jsonl", page_size=10
                ):
                    produced += 1
                    yield line
            finally:
                closed = True

        sent = asyncio.Event()
        bodies = 0

        async def send(message: Message) -> None:
            nonlocal bodies
            if message["type"] == "http.response.body":
                bodies += 1
                sent.set()
                await asyncio.sleep(0.01)  # a slow network: the client can leave mid-stream

        async def receive() -> ReceiveMessage:
            await sent.wait()
            return {"type": "http.disconnect"}

        response = ASGIStreamingResponse(iterator=lines(), media_type="application/x-ndjson")
        scope: Any = {"type": "http", "method": "GET", "path": "/", "headers": []}
        await asyncio.wait_for(response(scope, receive, send), 30)
        await asyncio.sleep(0.1)
        assert 1 <= produced < 60  # reading stopped ...
        del response  # ... and once the response is dropped, the loop closes the generator
        gc.collect()
        await asyncio.sleep(0.1)
        assert closed
