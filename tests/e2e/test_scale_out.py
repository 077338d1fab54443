"""Three servers on one PostgreSQL database act as one service: exactly one learner; routes
and feedback through every one; a policy made through one is in force in all; the learner is
killed with -9 under load and another takes over; nothing acknowledged is lost, every joined
reward is learned exactly once, and the survivors' pmfs equal a rebuild from the log."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import fresh_postgres_database
from tests.server import RunningServer, start_server

POLICY = "so"
MODELS = ("so-a", "so-b", "so-c")
PROBE = {"policy": POLICY, "prompt": "probe", "features": {"task": "t1"}}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[RunningServer]]]:
    with fresh_postgres_database() as url:
        servers = [start_server(url, tmp_path)]
        # The first one migrates and bootstraps; the others join it.
        servers += [start_server(url, tmp_path) for _ in range(2)]
        try:
            yield url, servers
        finally:
            for server in servers:
                server.stop()


def _status(server: RunningServer) -> dict[str, object]:
    response = httpx.get(f"{server.url}/v1/status", headers=server.headers, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _wait(check: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def _learners(servers: list[RunningServer]) -> list[RunningServer]:
    return [s for s in servers if _status(s)["role"] == "learner"]


def _learned(server: RunningServer) -> int:
    learned = _status(server)["learned_by_policy"]
    assert isinstance(learned, dict)
    return int(learned.get(POLICY, 0))


def test_three_servers_are_one_service_and_survive_the_learners_death(
    cluster: tuple[str, list[RunningServer]], tmp_path: Path
) -> None:
    url, servers = cluster
    _wait(lambda: len(_learners(servers)) == 1, 10, "one learner")
    clients = [s.client() for s in servers]
    try:
        # A catalog change through one server is in force in all within a second or so.
        for model in MODELS:
            put = clients[1].put(
                f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
            )
            assert put.status_code in (200, 201), put.text
        put = clients[2].put(
            f"/v1/policies/{POLICY}",
            json={"models": list(MODELS), "exploration": {"algorithm": "epsilon"}},
        )
        assert put.status_code == 201, put.text
        _wait(
            lambda: all(c.get(f"/v1/policies/{POLICY}").status_code == 200 for c in clients),
            5,
            "the new policy in every server",
        )

        acknowledged: list[tuple[str, str]] = []  # (decision id, feedback id)
        failures: list[str] = []
        stop = threading.Event()

        def load(client: httpx.Client, worker: int) -> None:
            for index in itertools.count():
                if stop.is_set():
                    return
                try:
                    routed = client.post(
                        "/v1/route",
                        json={
                            "policy": POLICY,
                            "prompt": f"w{worker} q{index}",
                            "features": {"task": f"t{index % 3}"},
                        },
                    )
                    if routed.status_code != 200:
                        failures.append(routed.text)
                        continue
                    decision = routed.json()
                    score = 1.0 if decision["model"] == "so-b" else 0.2
                    sent = client.post(
                        "/v1/feedback",
                        json={"decision_id": decision["decision_id"], "score": score},
                    )
                    if sent.status_code == 201:
                        acknowledged.append((decision["decision_id"], sent.json()["feedback_id"]))
                except httpx.HTTPError:
                    continue  # the killed server: unacknowledged, so nothing is owed

        threads = [
            threading.Thread(target=load, args=(client, n), daemon=True)
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(4)
        leader = _learners(servers)[0]
        leader.kill()
        survivors = [s for s in servers if s is not leader]
        killed_at = time.monotonic()
        _wait(lambda: len(_learners(survivors)) == 1, 10, "a new learner")
        takeover = time.monotonic() - killed_at
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not failures, failures[:3]
        assert len(acknowledged) > 50
        assert takeover < 10

        alive = [c for c, s in zip(clients, servers, strict=True) if s is not leader]
        # Every acknowledged decision and feedback is there, and joined.
        for decision_id, feedback_id in acknowledged:
            stored = alive[0].get(f"/v1/decisions/{decision_id}")
            assert stored.status_code == 200, stored.text
            assert feedback_id in {f["feedback_id"] for f in stored.json()["feedback"]}
        _wait(
            lambda: all(
                alive[0].get(f"/v1/decisions/{d}").json()["join_status"] == "joined"
                for d, _ in acknowledged[-20:]
            ),
            15,
            "the last feedback joined by the new learner",
        )
        # Each joined reward learned once: both survivors hold exactly the log's count.
        exported = alive[0].get(f"/v1/policies/{POLICY}").json()["learner"]
        _wait(
            lambda: (
                _learned(survivors[0]) == _learned(survivors[1])
                and alive[0].get(f"/v1/policies/{POLICY}").json()["learner"]["lag"] == 0
            ),
            15,
            "the survivors agreeing",
        )
        joined = alive[0].get(f"/v1/policies/{POLICY}").json()["learner"]
        assert joined["learned_interactions"] == _learned(survivors[0]), (exported, joined)
        # Every acknowledged feedback closed its decision's window: all of them were learned,
        # once (a second learning would show as more interactions than decisions).
        decisions = {d for d, _ in acknowledged}
        assert _learned(survivors[0]) >= len(decisions)
        assert _learned(survivors[0]) <= len(decisions) + len(servers) * 2
        pmfs = [c.post("/v1/route", json=PROBE).json()["ranking"] for c in alive]
        assert sorted(map(str, pmfs[0])) == sorted(map(str, pmfs[1]))
    finally:
        for client in clients:
            client.close()
    # A server started afresh rebuilds from the snapshots and the log to the same pmf.
    for server in survivors:
        server.stop()
    rebuilt = start_server(url, tmp_path)
    try:
        with rebuilt.client() as client:
            _wait(lambda: _learned(rebuilt) == _learned_count(client), 15, "the rebuild")
            again = client.post("/v1/route", json=PROBE).json()["ranking"]
        assert sorted(map(str, again)) == sorted(map(str, pmfs[0]))
    finally:
        rebuilt.stop()


def _learned_count(client: httpx.Client) -> int:
    learner = client.get(f"/v1/policies/{POLICY}").json()["learner"]
    return int(learner["learned_interactions"])


def test_serve_workers_shares_one_port_among_a_learner_and_followers(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        server = start_server(url, tmp_path, "--workers", "2")
        try:
            roles: set[str] = set()
            deadline = time.monotonic() + 30
            while roles != {"learner", "follower"} and time.monotonic() < deadline:
                # A new connection each time: the kernel hands it to either worker.
                roles.add(str(_status(server)["role"]))
            assert roles == {"learner", "follower"}
        finally:
            server.stop()


def test_workers_need_postgresql(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--database-url",
            f"sqlite:///{tmp_path / 'router.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        "bandit-router serve: --workers needs PostgreSQL; SQLite serves from one process"
    )
