"""The typed client (``api.client``), sync and async, against the real server process."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.client import (
    AsyncRouterClient,
    ConflictError,
    ExperimentIn,
    ForbiddenError,
    InvalidRequestError,
    ModelIn,
    NotFoundError,
    PolicyIn,
    RateLimitedError,
    RetryPolicy,
    RouterClient,
    RouterError,
    UnauthorizedError,
    UnreachableError,
)
from api.http import schemas
from tests.server import RunningServer, start_server
from tests.units import balanced_units

POLICY = "cl"
MODELS = ("cl-a", "cl-b", "cl-new")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("client")
    server = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
    try:
        with RouterClient(server.url, server.admin_key) as client:
            for model in MODELS:
                client.put_model(
                    model,
                    ModelIn(
                        input_usd_per_mtok=1.0, output_usd_per_mtok=2.0, features={"tier": "s"}
                    ),
                )
            client.put_policy(POLICY, PolicyIn(models=["cl-a", "cl-b"]))
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(running: RunningServer) -> Iterator[RouterClient]:
    with RouterClient(running.url, running.admin_key) as client:
        yield client


class Sleeps:
    """Records the client's waits (and waits them, so the service's clock moves on too)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def test_route_feedback_and_the_decision_come_back_typed(client: RouterClient) -> None:
    routed = client.route("Write a haiku about tests.", policy=POLICY, features={"task": "poem"})
    assert isinstance(routed, schemas.RouteOut)
    assert routed.model in ("cl-a", "cl-b")
    assert routed.policy == POLICY
    assert sum(r.probability for r in routed.ranking) == pytest.approx(1.0)

    given = client.feedback(routed.decision_id, score=0.75, cost_usd=0.002, latency_ms=300.0)
    assert isinstance(given, schemas.FeedbackOut)
    assert given.idempotency_key is not None  # made by the client
    assert not given.duplicate

    decision = client.decision(routed.decision_id)
    assert isinstance(decision, schemas.DecisionOut)
    assert decision.features == {"task": "poem"}
    assert [(f.feedback_id, f.score) for f in decision.feedback] == [(given.feedback_id, 0.75)]

    voided = client.void_feedback(given.feedback_id, "A test reverses it.")
    assert voided.feedback.void_reason == "A test reverses it."


def test_catalog_keys_status_and_audit(client: RouterClient, running: RunningServer) -> None:
    assert {m.id for m in client.models()} >= set(MODELS)
    assert client.model("cl-a").features == {"tier": "s"}
    assert client.policy(POLICY).models == ["cl-a", "cl-b"]
    assert POLICY in {p.name for p in client.policies()}
    versions = client.policy_versions(POLICY)
    assert versions.policy == POLICY

    created = client.create_key("cl-reader", ["read"], policies=[POLICY])
    assert created.key
    listed = client.keys()
    assert created.id in {k.id for k in listed}
    with RouterClient(running.url, created.key) as reader:
        assert reader.policy(POLICY).name == POLICY
        with pytest.raises(ForbiddenError) as refused:
            reader.put_model("cl-x", ModelIn(input_usd_per_mtok=1.0, output_usd_per_mtok=1.0))
        assert refused.value.status == 403
        assert "lacks the scope" in refused.value.detail
    assert client.revoke_key(created.id).revoked_at is not None
    with RouterClient(running.url, created.key) as revoked, pytest.raises(UnauthorizedError):
        revoked.status()

    status = client.status()
    assert status.role == "learner"
    assert client.health().status in ("ok", "degraded")
    actions = [entry.action for entry in client.audit(limit=50)]
    assert actions  # the puts and the key changes above


def test_experiments_drift_evaluation_and_a_streamed_export(client: RouterClient) -> None:
    experiment = client.create_experiment(
        ExperimentIn(policy=POLICY, candidate="cl-new", min_feedback_per_stage=5)
    )
    assert (experiment.status, experiment.stage, experiment.share) == ("running", 0, 0.1)
    assert experiment.id in {e.id for e in client.experiments(POLICY)}
    decisions = []
    for i, unit in enumerate(balanced_units(experiment.id, share=0.1, total=30)):
        routed = client.route(f"q{i}", policy=POLICY, unit_id=unit, features={"task": "qa"})
        assert routed.experiment is not None
        assert routed.experiment.arm == ("candidate" if routed.model == "cl-new" else "control")
        client.feedback(routed.decision_id, score=(i % 4) / 3)
        decisions.append(routed.decision_id)
    # The arms count joined feedback; the learner joins it within a second or so.
    deadline = time.monotonic() + 30
    while True:
        report = client.experiment(experiment.id)
        joined = report.arms.candidate.feedback + report.arms.control.feedback
        if joined == 30 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert joined == 30
    assert report.stage_counts.units_candidate == 3
    paused = client.experiment_action(experiment.id, "pause")
    assert paused.status == "paused"
    assert paused.history[-1].action == "pause"
    resumed = client.experiment_action(experiment.id, "resume")
    assert resumed.status == "running"

    drift = client.drift(POLICY, bucket_seconds=3600.0)
    assert drift.decisions >= 30
    assert "qa" in drift.groups
    assert sum(drift.kpis.utilization.values()) == pytest.approx(1.0)
    evaluation = client.evaluation(POLICY, resamples=10, counterfactual=False)
    assert evaluation.policy == POLICY
    assert {t.name for t in evaluation.targets}

    with client.export(POLICY, format="jsonl") as stream:
        records = list(stream.records())
    assert set(decisions) <= {r["id"] for r in records}
    with client.export(POLICY, format="dsjson") as stream:
        first = next(stream.lines())  # leaving the rest unread closes the stream
    assert first.startswith("{")


def test_answers_and_the_review_queue(client: RouterClient) -> None:
    client.put_policy(
        "cl-review",
        PolicyIn(models=["cl-a", "cl-b"], store_prompts=True, review=schemas.ReviewIn(rate=1.0)),
    )
    routed = client.route("What is 2 + 2?", policy="cl-review")
    stored = client.post_response(routed.decision_id, "4")
    assert (stored.decision_id, stored.length) == (routed.decision_id, 1)
    assert client.post_response(routed.decision_id, "4").stored_at == stored.stored_at
    with pytest.raises(ConflictError):
        client.post_response(routed.decision_id, "5")
    queue = client.review_queue("cl-review", reviewer="ana")
    [item] = [i for i in queue.items if i.decision_id == routed.decision_id]
    assert (item.prompt, item.response) == ("What is 2 + 2?", "4")


def test_refusals_raise_the_error_tree_with_the_services_sentence(
    client: RouterClient,
) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.decision("no-such-decision")
    assert missing.value.status == 404
    assert "no-such-decision" in missing.value.detail
    assert str(missing.value) == missing.value.detail

    routed = client.route(policy=POLICY)
    with pytest.raises(InvalidRequestError) as invalid:
        client.feedback(routed.decision_id, score=2.0)
    assert invalid.value.status == 422
    assert "score" in invalid.value.detail

    client.feedback(routed.decision_id, score=0.5, idempotency_key="cl-once")
    again = client.feedback(routed.decision_id, score=0.5, idempotency_key="cl-once")
    assert again.duplicate
    with pytest.raises(ConflictError) as conflict:
        client.feedback(routed.decision_id, score=0.1, idempotency_key="cl-once")
    assert conflict.value.status == 409
    assert isinstance(conflict.value, RouterError)


def test_rate_limited_calls_wait_as_told_then_succeed(
    client: RouterClient, running: RunningServer
) -> None:
    slow = client.create_key("cl-slow", ["read"], rate_per_second=0.5)
    with RouterClient(running.url, slow.key, retry=RetryPolicy(attempts=1)) as once:
        with pytest.raises(RateLimitedError) as limited:  # noqa: PT012 - the burst is one call
            for _ in range(5):
                once.status()
        assert limited.value.status == 429
        assert limited.value.retry_after is not None
        assert limited.value.retry_after >= 1
    sleeps = Sleeps()
    with RouterClient(running.url, slow.key, sleep=sleeps) as patient:
        for _ in range(2):
            patient.status()
    # The bucket was empty: the second call was refused and retried after Retry-After.
    assert sleeps.waits
    assert min(sleeps.waits) >= 1.0


def test_no_answer_is_retried_then_raised_as_unreachable() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    retry = RetryPolicy(attempts=3, backoff_seconds=0.01)
    with (
        RouterClient(f"http://127.0.0.1:{port}", "k", retry=retry, sleep=sleeps) as client,
        pytest.raises(UnreachableError) as unreachable,
    ):
        client.status()
    assert unreachable.value.status is None
    assert f"127.0.0.1:{port}" in unreachable.value.detail
    assert len(sleeps.waits) == 2


class DroppingProxy:
    """Forwards each HTTP request to ``upstream``, but for the first ``drop`` requests
    closes the connection instead of answering: the service did the work, the caller never
    heard. One request per connection (it answers ``Connection: close``)."""

    def __init__(self, upstream: str, *, drop: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self._upstream = (host, int(port))
        self.drop = drop
        self.forwarded = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                request = _read_message(connection)
                request = request.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
                with socket.create_connection(self._upstream) as upstream:
                    upstream.sendall(request)
                    answer = _read_message(upstream)
                self.forwarded += 1
                if self.drop > 0:
                    self.drop -= 1
                    connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0"
                    )
                    continue  # closed unanswered (a reset)
                connection.sendall(answer)


_RESET = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")


def _read_message(connection: socket.socket) -> bytes:
    """One HTTP/1.1 message with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_feedback_whose_answer_was_lost_is_retried_with_the_same_key(
    client: RouterClient, running: RunningServer
) -> None:
    routed = client.route(policy=POLICY)
    proxy = DroppingProxy(running.url, drop=1)
    sleeps = Sleeps()
    try:
        with RouterClient(proxy.url, running.admin_key, sleep=sleeps) as flaky:
            given = flaky.feedback(routed.decision_id, score=1.0)
    finally:
        proxy.close()
    assert proxy.forwarded == 2
    assert len(sleeps.waits) == 1
    # The first attempt was stored; the retry carried the same key, so it is that feedback.
    assert given.duplicate
    stored = client.decision(routed.decision_id).feedback
    assert [f.feedback_id for f in stored] == [given.feedback_id]


def test_a_route_without_a_decision_id_is_not_resent_after_a_lost_answer(
    client: RouterClient, running: RunningServer
) -> None:
    proxy = DroppingProxy(running.url, drop=1)
    try:
        with RouterClient(proxy.url, running.admin_key) as flaky:
            with pytest.raises(UnreachableError):
                flaky.route(policy=POLICY)
            again = flaky.route(policy=POLICY, decision_id="cl-retried-route")
    finally:
        proxy.close()
    assert again.decision_id == "cl-retried-route"
    assert proxy.forwarded == 2


def test_url_and_key_default_from_the_environment(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BANDIT_ROUTER_URL", running.url)
    monkeypatch.setenv("BANDIT_ROUTER_KEY", running.admin_key)
    with RouterClient() as client:
        assert client.base_url == running.url
        assert client.status().policies >= 1


def test_the_async_client_makes_the_same_calls(running: RunningServer) -> None:
    async def scenario() -> dict[str, Any]:
        async with AsyncRouterClient(running.url, running.admin_key) as client:
            routed = await client.route("hello", policy=POLICY, features={"task": "async"})
            given = await client.feedback(routed.decision_id, stars=5)
            decision = await client.decision(routed.decision_id)
            with pytest.raises(NotFoundError):
                await client.policy("no-such-policy")
            async with client.export(POLICY, format="jsonl") as stream:
                ids = [record["id"] async for record in stream.records()]
            drift = await client.drift(POLICY, group_by="")
            return {
                "routed": routed,
                "given": given,
                "decision": decision,
                "ids": ids,
                "drift": drift,
            }

    result = asyncio.run(scenario())
    assert isinstance(result["routed"], schemas.RouteOut)
    assert result["given"].score == 1.0
    assert result["decision"].features == {"task": "async"}
    assert result["routed"].decision_id in result["ids"]
    assert result["drift"].group_by is None
    assert result["drift"].groups == {}


def test_as_json_gives_the_services_own_json(client: RouterClient, running: RunningServer) -> None:
    with httpx.Client(
        base_url=running.url, headers={"authorization": f"Bearer {running.admin_key}"}
    ) as http:
        assert client.as_json(client.models) == http.get("/v1/models").json()
        assert client.as_json(client.policy_versions, POLICY) == (
            http.get(f"/v1/policies/{POLICY}/versions").json()
        )
    with pytest.raises(NotFoundError):  # refusals are the same tree as the typed call's
        client.as_json(client.model, "no-such-model")
    with pytest.raises(ValueError, match="exactly one"):
        client.as_json(client.close)


def _newer_service(request: httpx.Request) -> httpx.Response:
    """A model as a newer service might send it: a field this client does not know, and a
    price written as an integer."""
    body = (
        b'{"id": "m", "provider": "p", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2.5,'
        b' "status": "active", "features": {}, "endpoint": null, "since_version": 9}'
    )
    return httpx.Response(200, content=body, headers={"content-type": "application/json"})


def test_as_json_keeps_what_the_typed_answer_would_drop() -> None:
    transport = httpx.MockTransport(_newer_service)
    with RouterClient("http://router.test", "k", transport=transport) as client:
        answer = client.as_json(client.model, "m")
        typed = client.model("m")
    assert answer["since_version"] == 9
    assert answer["input_usd_per_mtok"] == 1
    assert isinstance(answer["input_usd_per_mtok"], int)
    assert isinstance(typed.input_usd_per_mtok, float)
    assert list(answer)[:3] == ["id", "provider", "input_usd_per_mtok"]


def test_the_async_as_json(running: RunningServer) -> None:
    async def listed() -> Any:
        async with AsyncRouterClient(running.url, running.admin_key) as client:
            return await client.as_json(client.models)

    assert {m["id"] for m in asyncio.run(listed())} >= set(MODELS)


def test_an_answer_of_another_shape_is_a_router_error() -> None:
    def login_page(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>Sign in</html>")

    transport = httpx.MockTransport(login_page)
    with (
        RouterClient("http://router.test", "k", transport=transport) as client,
        pytest.raises(RouterError, match=r"GET /v1/models is not the router's") as raised,
    ):
        client.models()
    assert raised.value.status == 200
