"""``GET /metrics`` and the access log, against the real server process over HTTP.

One server for the module: every test works on policies and keys of its own, and reads
counters as differences or under labels no other test uses.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import fresh_postgres_database
from tests.server import RunningServer, start_server

#: Appears in prompts sent to the server, and must appear nowhere in its log.
PROMPT_MARKER = "zebra-quartz-7781-PRIVATE"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The scrape's queries (lag, snapshot age, experiments) run on both databases."""
    workdir: Path = tmp_path_factory.mktemp("metrics")
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(fresh_postgres_database())
            if request.param == "postgresql"
            else f"sqlite:///{workdir / 'router.db'}"
        )
        running = start_server(url, workdir)
        try:
            yield running
        finally:
            running.stop()


def _key(server: RunningServer, name: str, scopes: list[str]) -> tuple[str, str]:
    """A new key's ``(id, secret)``."""
    with server.client() as admin:
        made = admin.post("/v1/keys", json={"name": name, "scopes": scopes})
        body = made.raise_for_status().json()
    return body["id"], body["key"]


def _policy(server: RunningServer, name: str) -> list[str]:
    models = [f"{name}-a", f"{name}-b"]
    with server.client() as admin:
        for model in models:
            admin.put(
                f"/v1/models/{model}", json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
            ).raise_for_status()
        admin.put(f"/v1/policies/{name}", json={"models": models}).raise_for_status()
    return models


def _scrape(server: RunningServer, key: str | None = None) -> dict[str, list[Sample]]:
    """Samples by sample name (``..._total``, ``..._bucket``, ...) of one scrape."""
    headers = {"authorization": f"Bearer {key or server.admin_key}"}
    answer = httpx.get(f"{server.url}/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def _value(samples: dict[str, list[Sample]], name: str, **labels: str) -> float | None:
    found = [
        s for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, found
    return found[0].value if found else None


def _poll(read: Callable[[], float | None], wanted: float, seconds: float = 20) -> float | None:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if value == wanted or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _access_lines(server: RunningServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]


def test_metrics_need_a_read_key(server: RunningServer) -> None:
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
    _, route_only = _key(server, "metrics-route-only", ["route"])
    refused = httpx.get(
        f"{server.url}/metrics", headers={"authorization": f"Bearer {route_only}"}, timeout=30
    )
    assert refused.status_code == 403
    assert "read" in refused.json()["detail"]
    _, reader = _key(server, "metrics-reader", ["read"])
    samples = _scrape(server, reader)
    assert _value(samples, "bandit_router_learner_role") == 1.0  # the only process leads
    assert _value(samples, "process_resident_memory_bytes") is not None


def test_routes_and_feedback_are_counted_per_policy_and_model(server: RunningServer) -> None:
    models = _policy(server, "metrics-count")
    chosen: list[str] = []
    with server.client() as client:
        for i in range(4):
            routed = client.post(
                "/v1/route",
                json={"policy": "metrics-count", "prompt": f"{PROMPT_MARKER} number {i}"},
            ).raise_for_status()
            chosen.append(routed.json()["model"])
            decision_id = routed.json()["decision_id"]
            feedback: dict[str, Any] = {"decision_id": decision_id, "score": 0.5}
            if i == 0:
                feedback["error"] = "HTTP 503 from the provider"
            else:
                feedback["latency_ms"] = 300.0 * i
            client.post("/v1/feedback", json=feedback).raise_for_status()
        # A retry of stored feedback is not counted again.
        keyed = {"decision_id": decision_id, "score": 0.9, "idempotency_key": "metrics-once"}
        assert client.post("/v1/feedback", json=keyed).status_code == 201
        assert client.post("/v1/feedback", json=keyed).status_code == 200
    samples = _scrape(server)
    for model in models:
        routes = _value(samples, "bandit_router_routes_total", policy="metrics-count", model=model)
        feedback_count = _value(
            samples, "bandit_router_feedback_total", policy="metrics-count", model=model
        )
        expected = chosen.count(model)
        assert (routes or 0) == expected, (model, chosen)
        assert (feedback_count or 0) == expected + (model == chosen[-1]), (model, chosen)
    # The decision latency histogram has one observation per answered route.
    assert (
        _value(samples, "bandit_router_route_duration_seconds_count", policy="metrics-count") == 4
    )
    # Provider latency and errors come from the feedback's latency_ms and error.
    failed = chosen[0]
    assert _value(samples, "bandit_router_provider_errors_total", model=failed, via="feedback") == 1
    latencies = sum(
        _value(samples, "bandit_router_provider_latency_seconds_count", model=m, via="feedback")
        or 0
        for m in models
    )
    assert latencies == 3
    total_seconds = sum(
        _value(samples, "bandit_router_provider_latency_seconds_sum", model=m, via="feedback") or 0
        for m in models
    )
    assert total_seconds == pytest.approx(0.3 + 0.6 + 0.9)


def test_learning_figures_appear_per_policy(server: RunningServer) -> None:
    _policy(server, "metrics-learn")
    with server.client() as client:
        for _ in range(3):
            routed = client.post("/v1/route", json={"policy": "metrics-learn"}).raise_for_status()
            client.post(
                "/v1/feedback", json={"decision_id": routed.json()["decision_id"], "score": 1.0}
            ).raise_for_status()

    def learned() -> float | None:
        return _value(_scrape(server), "bandit_router_learned_interactions", policy="metrics-learn")

    assert _poll(learned, 3.0) == 3.0
    samples = _scrape(server)
    assert _value(samples, "bandit_router_learner_lag_interactions", policy="metrics-learn") == 0
    assert _value(samples, "bandit_router_policy_version", policy="metrics-learn") is not None
    age = _value(samples, "bandit_router_snapshot_age_seconds", policy="metrics-learn")
    assert age is not None
    assert 0 <= age < 600
    assert _value(samples, "bandit_router_learning_problems") == 0


def test_experiments_are_gauged_by_stage_and_status(server: RunningServer) -> None:
    _policy(server, "metrics-exp")
    with server.client() as admin:
        admin.put(
            "/v1/models/metrics-exp-new",
            json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
        ).raise_for_status()
        created = admin.post(
            "/v1/experiments", json={"policy": "metrics-exp", "candidate": "metrics-exp-new"}
        ).raise_for_status()
    experiment = created.json()["id"]
    samples = _scrape(server)
    labels = {
        "experiment": experiment,
        "policy": "metrics-exp",
        "candidate": "metrics-exp-new",
        "status": "running",
    }
    assert _value(samples, "bandit_router_experiment_stage", **labels) == 0
    assert _value(samples, "bandit_router_experiment_share", **labels) == pytest.approx(0.1)
    running = _value(samples, "bandit_router_experiments", status="running")
    assert running is not None
    assert running >= 1


def test_access_log_names_the_decision_and_never_the_prompt(server: RunningServer) -> None:
    _policy(server, "metrics-log")
    key_id, secret = _key(server, "metrics-logger", ["route", "feedback"])
    headers = {"authorization": f"Bearer {secret}", "x-request-id": "req-metrics-1"}
    routed = httpx.post(
        f"{server.url}/v1/route",
        json={"policy": "metrics-log", "prompt": f"{PROMPT_MARKER}: my secret question"},
        headers=headers,
        timeout=30,
    ).raise_for_status()
    assert routed.headers["x-request-id"] == "req-metrics-1"
    decision_id = routed.json()["decision_id"]
    httpx.post(
        f"{server.url}/v1/feedback",
        json={"decision_id": decision_id, "score": 0.2, "comment": f"{PROMPT_MARKER} comment"},
        headers={"authorization": f"Bearer {secret}"},
        timeout=30,
    ).raise_for_status()
    unserved = httpx.get(f"{server.url}/no/such/path", timeout=30)
    assert unserved.status_code == 404
    # A request id that is not short and plain is replaced, not echoed into the log.
    odd = httpx.get(f"{server.url}/health", headers={"x-request-id": "a b\tc"}, timeout=30)
    assert odd.headers["x-request-id"] != "a b\tc"

    def lines() -> list[dict[str, Any]]:
        return [line for line in _access_lines(server) if line["decision_id"] == decision_id]

    deadline = time.monotonic() + 10
    while len(lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    route_line, feedback_line = lines()
    assert route_line["method"] == "POST"
    assert route_line["path"] == route_line["route"] == "/v1/route"
    assert route_line["status"] == 200
    assert route_line["policy"] == "metrics-log"
    assert route_line["key_id"] == key_id
    assert route_line["request_id"] == "req-metrics-1"
    assert route_line["duration_ms"] > 0
    assert set(route_line) == {
        "time",
        "method",
        "path",
        "route",
        "status",
        "duration_ms",
        "request_id",
        "key_id",
        "policy",
        "decision_id",
    }
    assert feedback_line["route"] == "/v1/feedback"
    assert feedback_line["status"] == 201
    assert feedback_line["policy"] == "metrics-log"
    assert any(
        line["path"] == "/no/such/path" and line["route"] == "unmatched" and line["status"] == 404
        for line in _access_lines(server)
    )
    # Neither the prompt nor the comment reached the log, in any line.
    assert PROMPT_MARKER not in server.log()
    assert secret not in server.log()
