"""Review queues in Langfuse: ``bandit-router langfuse setup`` and the feeder that adds a
policy's review sample to its queue, with the real SDK against the fake server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import Iterator

import pytest

from api.app import Services, open_services
from api.cli import main
from api.integrations.langfuse_link import open_client
from api.integrations.langfuse_queues import QueueFeeder
from api.integrations.langfuse_scores import ScorePoller
from api.service.router import RouteRequest
from api.settings import LangfuseSettings, Settings
from bandit.review import ReviewSettings
from bandit.reward import RewardRule
from domain import ModelSpec, PolicyConfig
from tests.langfuse_fake import FakeLangfuse, fake_langfuse

MODELS = (ModelSpec("small", 0.1, 0.4), ModelSpec("large", 5.0, 15.0))
#: Half the decisions of ``p`` are sampled for review; none of ``other``'s.
REVIEWED = PolicyConfig(
    models=("small", "large"),
    reward=RewardRule(wait_seconds=0),
    review=ReviewSettings(rate=0.5),
)
UNREVIEWED = PolicyConfig(models=("small", "large"), reward=RewardRule(wait_seconds=0))


@pytest.fixture
def fake() -> Iterator[FakeLangfuse]:
    with fake_langfuse() as served:
        yield served


def _langfuse(fake: FakeLangfuse, **overrides: object) -> LangfuseSettings:
    settings = LangfuseSettings(
        # The SDK keeps one client per public key for the whole process: one key per test.
        public_key=f"pk-{uuid.uuid4().hex}",
        secret_key="sk-test",
        host=fake.url,
        timeout_seconds=1,
        poll_seconds=0,  # the tests poll and feed by hand
        review_seconds=0,
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


def _settings(database_url: str, langfuse: LangfuseSettings) -> Settings:
    return Settings(
        database_url=database_url,
        learn_interval_seconds=3600,
        snapshot_every=1_000_000,
        snapshot_seconds=1e9,
        bootstrap=False,
        heavy_jobs_in_processes=False,
        langfuse=langfuse,
    )


def _setup(
    fake: FakeLangfuse,
    policy: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, object]:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", f"pk-setup-{uuid.uuid4().hex}")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-test")
    monkeypatch.setenv("LANGFUSE_HOST", fake.url)
    assert main(["langfuse", "setup", policy, "--json"]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def _feeder(services: Services, settings: LangfuseSettings) -> QueueFeeder:
    return QueueFeeder(
        open_client(settings),
        services.engine,
        services.committer,
        lambda: list(services.catalog.policies),
        time.time,
        seconds=60,
    )


async def _catalog(services: Services) -> None:
    for model in MODELS:
        await services.admin.put_model(model)
    await services.admin.put_policy("p", REVIEWED)
    await services.admin.put_policy("other", UNREVIEWED)


def test_setup_creates_the_score_configs_and_the_queue_once(
    fake: FakeLangfuse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _setup(fake, "p", monkeypatch, capsys)
    names = {(c["kind"], c["name"]) for c in first["created"]}  # type: ignore[attr-defined]
    assert names == {
        ("score config", "reviewer"),
        ("score config", "judge"),
        ("annotation queue", "bandit-router/p"),
    }
    assert first["reused"] == []
    configs = {c["name"]: c for c in fake.score_configs}
    assert (configs["reviewer"]["minValue"], configs["reviewer"]["maxValue"]) == (1.0, 5.0)
    assert (configs["judge"]["minValue"], configs["judge"]["maxValue"]) == (0.0, 1.0)
    [queue] = fake.annotation_queues
    assert queue["id"] == first["queue_id"]
    assert queue["scoreConfigIds"] == [configs["reviewer"]["id"]]
    # Again: everything is found by name and reused; a second policy gets its own queue.
    second = _setup(fake, "p", monkeypatch, capsys)
    assert second["created"] == []
    assert second["queue_id"] == first["queue_id"]
    assert len(second["reused"]) == 3  # type: ignore[arg-type]
    third = _setup(fake, "other", monkeypatch, capsys)
    assert [c["name"] for c in third["created"]] == ["bandit-router/other"]  # type: ignore[attr-defined]
    assert len(fake.score_configs) == 2
    assert len(fake.annotation_queues) == 2


def test_setup_without_langfuse_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"):
        main(["langfuse", "setup", "p"])


async def test_sampled_decisions_land_in_the_queue_once_and_their_scores_come_back(
    database_url: str,
    fake: FakeLangfuse,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    langfuse = _langfuse(fake)
    settings = _settings(database_url, langfuse)
    queue_id = str(_setup(fake, "p", monkeypatch, capsys)["queue_id"])
    _setup(fake, "other", monkeypatch, capsys)
    async with open_services(settings) as services:
        await _catalog(services)
        routed = [await services.router.route(RouteRequest(policy="p")) for _ in range(20)]
        others = [await services.router.route(RouteRequest(policy="other")) for _ in range(5)]
        sampled = {
            d.trace_id for d in routed if (await services.router.decision(d.id)).review_probability
        }
        # The draw is a hash of the decision id: with 20 decisions at rate 0.5 both kinds occur.
        assert 0 < len(sampled) < len(routed)
        feeder = _feeder(services, langfuse)
        assert await feeder.feed() == len(sampled)
        assert await feeder.feed() == 0  # nothing twice
        assert feeder.counts().added == len(sampled)
    items = fake.items(queue_id)
    assert {i["objectId"] for i in items} == sampled
    assert len(items) == len(sampled)
    assert {i["objectType"] for i in items} == {"TRACE"}
    assert not any(fake.items(q["id"]) for q in fake.annotation_queues if q["id"] != queue_id)
    assert not {d.trace_id for d in others} & {i["objectId"] for i in items}
    # A restart adds only what is new.
    async with open_services(settings) as services:
        feeder = _feeder(services, langfuse)
        assert await feeder.feed() == 0
        later = [await services.router.route(RouteRequest(policy="p")) for _ in range(10)]
        new = {
            d.trace_id for d in later if (await services.router.decision(d.id)).review_probability
        }
        assert await feeder.feed() == len(new)
        items = fake.items(queue_id)
        assert len(items) == len(sampled) + len(new)
        assert {i["objectId"] for i in items} == sampled | new
        # A reviewer's 4 stars on a queue item come back as reviewer feedback (scaled 1..5).
        reviewer = next(c for c in fake.score_configs if c["name"] == "reviewer")
        item = items[0]
        fake.add_score(
            score_id="review-1",
            trace_id=item["objectId"],
            name="reviewer",
            value=4.0,
            config_id=reviewer["id"],
        )
        poller = ScorePoller(
            open_client(langfuse),
            services.engine,
            services.committer,
            services.router,
            time.time,
            settings=langfuse,
        )
        assert await poller.poll() == 1
        decision = next(d for d in routed + later if d.trace_id == item["objectId"])
        [feedback] = (await services.router.decision(decision.id)).feedback
        assert (feedback.source, feedback.score) == ("reviewer", 0.75)


async def test_the_server_feeds_queues_on_its_schedule_and_counts_failures(
    database_url: str,
    fake: FakeLangfuse,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    langfuse = _langfuse(fake, review_seconds=0.05)
    queue_id = str(_setup(fake, "p", monkeypatch, capsys)["queue_id"])
    async with open_services(_settings(database_url, langfuse)) as services:
        await _catalog(services)
        assert services.langfuse is not None
        feeder = services.langfuse.feeder
        assert feeder is not None
        routed = [await services.router.route(RouteRequest(policy="p")) for _ in range(10)]
        sampled = len(
            [d for d in routed if (await services.router.decision(d.id)).review_probability]
        )
        assert sampled > 0
        for _ in range(200):
            if len(fake.items(queue_id)) == sampled:
                break
            await asyncio.sleep(0.02)
        assert len(fake.items(queue_id)) == sampled
        # Langfuse down: rounds fail and are counted; routing goes on.
        fake.mode = "error"
        failures = feeder.counts().failures
        for _ in range(200):
            if feeder.counts().failures > failures:
                break
            await asyncio.sleep(0.02)
        assert feeder.counts().failures > failures
        assert feeder.counts().last_error is not None
        await services.router.route(RouteRequest(policy="p"))


async def test_one_policys_refusing_queue_does_not_stop_the_others(
    database_url: str,
    fake: FakeLangfuse,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    langfuse = _langfuse(fake)
    broken = str(_setup(fake, "a", monkeypatch, capsys)["queue_id"])
    working = str(_setup(fake, "p", monkeypatch, capsys)["queue_id"])
    with fake.lock:
        del fake.queue_items[broken]  # listed, but its items answer 404
    async with open_services(_settings(database_url, langfuse)) as services:
        await _catalog(services)
        # Every decision of ``a`` is sampled, so its queue is asked (and refuses) for sure.
        await services.admin.put_policy(
            "a", dataclasses.replace(REVIEWED, review=ReviewSettings(rate=1.0))
        )
        for policy in ("a", "p"):
            for _ in range(10):
                await services.router.route(RouteRequest(policy=policy))
        feeder = _feeder(services, langfuse)
        added = await feeder.feed()
        assert added > 0
        assert len(fake.items(working)) == added
        counts = feeder.counts()
        assert counts.failures == 1
        assert counts.last_error is not None
        assert counts.last_error.startswith("policy 'a': NotFoundError")
        # The refused decisions stay waiting; the working queue gets nothing twice.
        assert await feeder.feed() == 0
        assert feeder.counts().failures == 2
