"""Issue 9: one bad interaction never stops learning, start-up or shutdown.

A reward row of -inf is what the old version wrote for ``cost_usd: 1e308`` at cost weight 25;
it is written here directly into the database, as that version would have left it.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from api.app import Services, open_services
from api.service.live_learner import PolicyLearner, build_learner, catch_up
from api.service.router import RouteRequest
from api.settings import Settings
from bandit.learner import Learner
from bandit.reward import RewardRule
from bandit.types import Arm, Context, Interaction, Pmf
from domain import FeedbackInput, ModelSpec, PolicyConfig
from features import arm_for_model, extract_context
from storage import _sql
from storage.engine import create_engine
from storage.evaluation import rewarded_decisions
from storage.learning_log import Quarantined
from tests.clock import FakeClock
from tests.conftest import fresh_postgres_database
from tests.server import start_server

MODELS = (ModelSpec("small", 0.1, 0.4), ModelSpec("large", 5.0, 15.0))


def _settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, learn_interval_seconds=3600, snapshot_every=10, bootstrap=False
    )


@pytest.fixture
async def services(database_url: str) -> AsyncIterator[Services]:
    async with open_services(_settings(database_url), FakeClock()) as opened:
        for model in MODELS:
            await opened.admin.put_model(model)
        yield opened


async def _feed(services: Services, policy: str, count: int) -> list[str]:
    ids = []
    for i in range(count):
        decision = await services.router.route(RouteRequest(policy=policy, prompt=f"q{i % 5}"))
        score = 0.9 if decision.chosen_model == "small" else 0.2
        await services.router.feedback(
            FeedbackInput(decision_id=decision.id, source="judge", score=score, cost_usd=0.001)
        )
        ids.append(decision.id)
    return ids


async def _poison(database_url: str, policy: str, decision_id: str, reward: float) -> None:
    """Join ``decision_id`` with ``reward`` directly in the database, as an old version did."""
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(_sql.decisions)
                .where(_sql.decisions.c.id == decision_id)
                .values(join_status="joined")
            )
            await connection.execute(
                _sql.rewards.insert().values(
                    decision_id=decision_id,
                    policy=policy,
                    reward=reward,
                    quality=1.0,
                    cost_usd=1e308,
                    latency_ms=None,
                    joined_at=1.0,
                )
            )
    finally:
        await engine.dispose()


def _pmfs(live: PolicyLearner) -> list[Pmf]:
    arms = tuple(
        arm_for_model(
            m.id,
            input_usd_per_mtok=m.input_usd_per_mtok,
            output_usd_per_mtok=m.output_usd_per_mtok,
            declared=m.features,
        )
        for m in MODELS
    )
    return [
        live.learner.policy.predict(extract_context(f"q{i}", {}, word_key=b"k" * 16), arms)
        for i in range(5)
    ]


async def test_a_poisoned_row_is_quarantined_and_learning_goes_on(
    services: Services, database_url: str
) -> None:
    record = await services.admin.put_policy(
        "p", PolicyConfig(models=("small", "large"), reward=RewardRule(cost_weight=25.0))
    )
    await services.admin.put_policy("q", PolicyConfig(models=("small", "large")))
    await _feed(services, "p", 20)
    poisoned = await services.router.route(RouteRequest(policy="p", prompt="q1"))
    await _poison(database_url, "p", poisoned.id, float("-inf"))
    await _feed(services, "p", 20)
    await _feed(services, "q", 5)

    await services.learning.step()

    live = services.learners.learner("p")
    assert live.learner.learned == 40
    assert live.last_error is None
    # The policy loaded after the broken one learns too (it stopped on main).
    assert services.learners.learner("q").learner.learned == 5
    status = (await services.learners.status("p")).log
    assert (status.quarantined, status.lag) == (1, 0)
    assert status.last_reason is not None
    assert "-inf" in status.last_reason
    async with services.engine.connect() as connection:
        rows = (await connection.execute(select(_sql.quarantine))).all()
        seq = (
            await connection.execute(
                select(_sql.rewards.c.seq).where(_sql.rewards.c.decision_id == poisoned.id)
            )
        ).scalar_one()
    assert [(row.policy, row.reward_seq) for row in rows] == [("p", seq)]
    # Evaluations (and drift, which reads the same rows) leave it out too.
    async with services.engine.connect() as connection:
        rewarded = await rewarded_decisions(
            connection, policy="p", since=None, until=None, limit=1000
        )
    assert len(rewarded) == 40
    assert all(math.isfinite(r.reward) for r in rewarded)

    # A rebuild from the log skips the quarantined row and gives the live state exactly.
    rebuilt = build_learner(record, None)
    assert await catch_up(services.engine, rebuilt) == 40
    assert _pmfs(rebuilt) == _pmfs(live)


async def test_start_up_and_shutdown_survive_a_poisoned_row(database_url: str) -> None:
    clock = FakeClock()
    async with open_services(_settings(database_url), clock) as services:
        for model in MODELS:
            await services.admin.put_model(model)
        await services.admin.put_policy(
            "p", PolicyConfig(models=("small", "large"), reward=RewardRule(cost_weight=25.0))
        )
        await _feed(services, "p", 5)
        poisoned = await services.router.route(RouteRequest(policy="p", prompt="q1"))
    # Written while the service is down: the next start-up meets it while loading.
    await _poison(database_url, "p", poisoned.id, float("-inf"))

    async with open_services(_settings(database_url), clock) as services:
        live = services.learners.learner("p")
        assert live.learner.learned == 5
        assert (await services.learners.status("p")).log.quarantined == 1
        await _feed(services, "p", 3)
    # Shutdown learned and snapshotted; the next start-up does not trip over the row again.
    async with open_services(_settings(database_url), clock) as services:
        assert services.learners.learner("p").learner.learned == 8
        assert (await services.learners.status("p")).log.quarantined == 1


class _Raising:
    """A policy that raises on its third interaction, to stand for any learner failure."""

    def __init__(self) -> None:
        self.calls = 0
        self.rewards: list[float] = []

    def predict(self, context: Context, arms: tuple[Arm, ...]) -> Pmf:
        return tuple(1.0 / len(arms) for _ in arms)

    def learn(self, interaction: Interaction) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("the learner broke on this one")
        self.rewards.append(interaction.reward)

    def to_bytes(self) -> bytes:
        return b""


async def test_a_learner_that_raises_sets_the_row_aside(services: Services) -> None:
    await services.admin.put_policy("p", PolicyConfig(models=("small", "large")))
    await _feed(services, "p", 10)
    policy = _Raising()
    live = PolicyLearner("p", 1, Learner(policy))
    set_aside: list[Quarantined] = []

    async def collect(entry: Quarantined) -> None:
        set_aside.append(entry)

    learned = await catch_up(services.engine, live, set_aside=collect, now=5.0)

    assert learned == len(policy.rewards) == 9
    assert live.learner.learned == 9
    assert len(set_aside) == 1
    assert "RuntimeError: the learner broke on this one" in set_aside[0].reason
    assert (set_aside[0].policy, set_aside[0].at) == ("p", 5.0)
    assert live.high_water_mark == 10  # the learner moved past the row and learned the rest


def test_legacy_huge_rewards_are_clipped_before_learning() -> None:
    # A finite 1e21 froze the pmf at uniform, also after a rebuild: it is clipped on the way in.
    rule = RewardRule()
    assert rule.clip(1e21) == 10.0
    assert rule.clip(-1e21) == -10.0


# --- The same over HTTP, against the real server -------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'router.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def _learned(http: httpx.Client, policy: str) -> int:
    return int(http.get(f"/v1/policies/{policy}").json()["learner"]["learned_interactions"])


def _wait_until_learned(http: httpx.Client, policy: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while _learned(http, policy) < count:
        assert time.monotonic() < deadline, http.get(f"/v1/policies/{policy}").text
        time.sleep(0.1)


def _assert_clean_shutdown(log: str) -> None:
    # On main, shutdown failed on the poisoned row ("Application shutdown failed").
    assert "failed" not in log, log
    assert "Traceback" not in log, log


def test_a_poisoned_row_over_http_restart_and_learning(server_url: str, tmp_path: Path) -> None:
    server = start_server(server_url, tmp_path)
    try:
        with server.client() as http:
            body = {"models": ["gpt-4o", "gpt-4o-mini"], "reward": {"cost_weight": 25}}
            assert http.put("/v1/policies/poison", json=body).status_code == 201
            decision = http.post("/v1/route", json={"policy": "poison"}).json()["decision_id"]
    finally:
        server.stop()
    _assert_clean_shutdown(server.log())
    asyncio.run(_poison(server_url, "poison", decision, float("-inf")))

    # Start-up failed here on main ("Application startup failed").
    server = start_server(server_url, tmp_path)
    try:
        with server.client() as http:
            learner = http.get("/v1/policies/poison").json()["learner"]
            assert learner["quarantined"] == 1
            assert "cannot be learned" in learner["last_quarantine_reason"]
            assert learner["lag"] == 0
            for policy in ("poison", "default"):
                routed = http.post("/v1/route", json={"policy": policy}).json()
                feedback = {"decision_id": routed["decision_id"], "score": 0.5, "cost_usd": 0.01}
                assert http.post("/v1/feedback", json=feedback).status_code == 201
            _wait_until_learned(http, "poison", 1)
            _wait_until_learned(http, "default", 1)
            _assert_reports_leave_it_out(http, "poison", decision)
    finally:
        server.stop()
    _assert_clean_shutdown(server.log())

    server = start_server(server_url, tmp_path)
    try:
        with server.client() as http:
            assert _learned(http, "poison") == 1
            assert http.get("/v1/policies/poison").json()["learner"]["quarantined"] == 1
    finally:
        server.stop()
    _assert_clean_shutdown(server.log())


def _assert_reports_leave_it_out(http: httpx.Client, policy: str, poisoned: str) -> None:
    """Issue 21: drift answered 500 (-inf + inf) and the exports a 200 whose body was an error
    object. The non-finite reward is left out of every report by one rule."""
    drift = http.get(f"/v1/policies/{policy}/drift")
    assert drift.status_code == 200, drift.text
    for fmt in ("jsonl", "dsjson"):
        exported = http.get(
            f"/v1/policies/{policy}/export", params={"format": fmt, "unlabeled": "include"}
        )
        assert exported.status_code == 200, exported.text
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert len(lines) == 2
        assert not any("detail" in line or "error" in line for line in lines)
    jsonl = http.get(f"/v1/policies/{policy}/export", params={"format": "jsonl"}).text
    by_id = {line["id"]: line for line in map(json.loads, jsonl.splitlines())}
    assert by_id[poisoned]["reward"] is None


def test_the_number_of_policies_has_a_ceiling(server_url: str, tmp_path: Path) -> None:
    # 500 policy PUTs raised RSS from 368 MB to 4.75 GB: there is a ceiling now.
    server = start_server(server_url, tmp_path, env={"BANDIT_ROUTER_MAX_POLICIES": "2"})
    try:
        with server.client() as http:
            body = {"models": ["gpt-4o"]}
            assert http.put("/v1/policies/second", json=body).status_code == 201
            refused = http.put("/v1/policies/third", json=body)
            assert refused.status_code == 409, refused.text
            assert "max_policies = 2" in refused.json()["detail"]
            assert http.get("/v1/policies/third").status_code == 404
            # Replacing an existing policy is not creating one.
            assert http.put("/v1/policies/second", json=body).status_code == 200
    finally:
        server.stop()
