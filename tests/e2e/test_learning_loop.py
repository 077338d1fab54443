"""The whole loop through the real server process: route, feedback, join, learn, crash, resume.

A seeded synthetic environment in which the best model depends on the request's ``task``
feature. The server must learn it, survive SIGKILL without losing anything it acknowledged,
and continue learning from its snapshot.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

TASKS = ("code", "math", "chat")
MODELS = {  # id -> (USD per 1M input tokens, per 1M output tokens)
    "coder": (0.5, 1.5),
    "mathematician": (1.0, 3.0),
    "chatter": (0.2, 0.6),
}
BEST = {"code": "coder", "math": "mathematician", "chat": "chatter"}
PROMPTS = {
    "code": ["Write a Python function that merges two sorted lists.", "Fix this bug: x = [1,2"],
    "math": ["Solve 3x + 7 = 22 for x.", "What is the integral of x^2 from 0 to 3?"],
    "chat": ["Tell me a fun fact about octopuses.", "How was your weekend?"],
}
CYCLES = 1500
WINDOW = 300


@dataclass
class Environment:
    """Seeded world: which task comes next and how good each model's answer is."""

    seed: int
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def request(self) -> tuple[str, str]:
        task = TASKS[int(self.rng.integers(len(TASKS)))]
        prompts = PROMPTS[task]
        return task, prompts[int(self.rng.integers(len(prompts)))]

    def score(self, task: str, model: str) -> float:
        mean = 0.85 if BEST[task] == model else 0.4
        return float(np.clip(mean + self.rng.normal(0.0, 0.1), 0.0, 1.0))


@dataclass
class Acknowledged:
    decisions: set[str] = field(default_factory=set)
    feedback: dict[str, str] = field(default_factory=dict)  # feedback id -> decision id
    lock: threading.Lock = field(default_factory=threading.Lock)


def _configure(client: httpx.Client) -> None:
    for model, (price_in, price_out) in MODELS.items():
        response = client.put(
            f"/v1/models/{model}",
            json={
                "input_usd_per_mtok": price_in,
                "output_usd_per_mtok": price_out,
                "features": {"family": model},
            },
        )
        assert response.status_code == 201, response.text
    response = client.put(
        "/v1/policies/e2e",
        json={
            "models": list(MODELS),
            "reward": {"cost_weight": 1.0, "sources": {"judge": {"weight": 1.0}}},
            "exploration": {"algorithm": "squarecb"},
        },
    )
    assert response.status_code == 201, response.text


def _cycle(
    client: httpx.Client, env: Environment, acknowledged: Acknowledged, key: str
) -> tuple[str, str]:
    task, prompt = env.request()
    routed = client.post(
        "/v1/route", json={"policy": "e2e", "prompt": prompt, "features": {"task": task}}
    )
    assert routed.status_code == 200, routed.text
    decision = routed.json()
    with acknowledged.lock:
        acknowledged.decisions.add(decision["decision_id"])
    model = decision["model"]
    feedback = client.post(
        "/v1/feedback",
        json={
            "decision_id": decision["decision_id"],
            "source": "judge",
            "score": env.score(task, model),
            "cost_usd": 0.001 * MODELS[model][1],
            "latency_ms": 400.0,
            "idempotency_key": key,
        },
    )
    assert feedback.status_code == 201, feedback.text
    with acknowledged.lock:
        acknowledged.feedback[feedback.json()["feedback_id"]] = decision["decision_id"]
    return task, model


def _best_share(history: list[tuple[str, str]]) -> dict[str, float]:
    chosen: dict[str, Counter[str]] = defaultdict(Counter)
    for task, model in history:
        chosen[task][model] += 1
    return {task: chosen[task][BEST[task]] / sum(chosen[task].values()) for task in TASKS}


def _policy(client: httpx.Client) -> dict[str, object]:
    response = client.get("/v1/policies/e2e")
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def _joined_rewards(client: httpx.Client) -> int:
    """Decisions of the policy with a joined reward, as the export reads them from the log."""
    export = client.get("/v1/policies/e2e/export", params={"format": "jsonl"}, timeout=120)
    assert export.status_code == 200, export.text
    rows = [json.loads(line) for line in export.text.splitlines() if line]
    return sum(1 for row in rows if row["reward"] is not None)


def _wait_until_learned(client: httpx.Client, count: int) -> dict[str, int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        learner = _policy(client)["learner"]
        assert isinstance(learner, dict)
        if learner["learned_interactions"] >= count:
            return learner
        time.sleep(0.2)
    raise AssertionError(f"the learner did not reach {count} interactions: {learner}")


def _wait_until_all_joined_are_learned(client: httpx.Client) -> tuple[int, int]:
    """``(learned, joined)`` once they are equal; after a deadline, the last reading (a
    joined reward that stays unlearned fails the test)."""
    deadline = time.monotonic() + 60
    while True:
        joined = _joined_rewards(client)
        learner = _policy(client)["learner"]
        assert isinstance(learner, dict)
        learned = int(learner["learned_interactions"])
        if learned == joined or time.monotonic() > deadline:
            return learned, joined
        time.sleep(0.5)


def _hammer_then_kill(server: RunningServer, acknowledged: Acknowledged, seed: int) -> None:
    """Concurrent clients keep routing and sending feedback while the server is SIGKILLed."""
    stop = threading.Event()

    def client_loop(worker: int) -> None:
        env = Environment(seed * 100 + worker)
        with server.client(timeout=10) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                try:
                    _cycle(client, env, acknowledged, f"crash-{worker}-{i}")
                except (httpx.HTTPError, AssertionError):
                    return  # the server died mid-request: that one was never acknowledged

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(client_loop, worker) for worker in range(4)]
        time.sleep(1.5)
        server.kill()
        stop.set()
        for future in futures:
            future.result()


def test_router_learns_survives_sigkill_and_resumes(database_url: str, tmp_path: Path) -> None:
    workdir = tmp_path
    env = Environment(seed=20261123)
    acknowledged = Acknowledged()
    server = start_server(database_url, workdir, "--snapshot-every", "200")
    try:
        with server.client() as client:
            _configure(client)
            history = [_cycle(client, env, acknowledged, f"fb-{i}") for i in range(CYCLES)]
            shares = _best_share(history[-WINDOW:])
            assert all(share >= 0.8 for share in shares.values()), shares
            learned_before = _wait_until_learned(client, CYCLES)["learned_interactions"]
            assert learned_before == CYCLES
        _hammer_then_kill(server, acknowledged, seed=7)
        assert len(acknowledged.feedback) > CYCLES, "no request was acknowledged under load"
    finally:
        server.stop()

    restarted = start_server(database_url, workdir, "--snapshot-every", "200")
    try:
        with restarted.client() as client:
            for decision_id in acknowledged.decisions:
                assert client.get(f"/v1/decisions/{decision_id}").status_code == 200
            by_decision: dict[str, set[str]] = defaultdict(set)
            for decision_id in set(acknowledged.feedback.values()):
                stored = client.get(f"/v1/decisions/{decision_id}").json()
                by_decision[decision_id] = {f["feedback_id"] for f in stored["feedback"]}
                assert stored["reward"] is not None, stored
            for feedback_id, decision_id in acknowledged.feedback.items():
                assert feedback_id in by_decision[decision_id]

            # Every acknowledged feedback closed one decision's window: all of them are
            # learned again, starting from a snapshot rather than from nothing.
            learner = _wait_until_learned(client, len(acknowledged.feedback))
            assert learner["snapshot_learned_interactions"] >= CYCLES - 200, learner
            assert "loaded snapshot at" in restarted.log()

            more = [_cycle(client, env, acknowledged, f"after-{i}") for i in range(WINDOW)]
            shares = _best_share(more)
            assert all(share >= 0.8 for share in shares.values()), shares
            # Each joined reward learned exactly once. The log may hold one or two rewards
            # more than were acknowledged: a feedback committed just before the kill whose
            # answer never left the dying server (stored, not owed, and learned all the same).
            # Reading the count as soon as it reached the acknowledged number read too early
            # (2,096 learned of 2,097 joined, once): wait for learned == joined.
            learned, joined = _wait_until_all_joined_are_learned(client)
            assert learned == joined
            assert len(acknowledged.feedback) <= joined <= len(acknowledged.feedback) + 4
    finally:
        restarted.stop()
