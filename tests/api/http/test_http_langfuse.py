"""Langfuse through the real server process: the route's trace_id, status counts, scores in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from langfuse import Langfuse
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.parser import text_string_to_metric_families

from api.integrations.langfuse_export import trace_id_for
from api.settings import LangfuseSettings, Settings
from tests.langfuse_fake import FakeLangfuse, fake_langfuse
from tests.server import start_server


@pytest.fixture
def fake() -> Iterator[FakeLangfuse]:
    with fake_langfuse() as served:
        yield served


def _wait(condition: object, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_route_names_the_trace_and_langfuse_scores_come_back(
    fake: FakeLangfuse, tmp_path: Path
) -> None:
    server = start_server(
        f"sqlite:///{tmp_path / 'router.db'}",
        tmp_path,
        env={
            "LANGFUSE_PUBLIC_KEY": f"pk-{uuid.uuid4().hex}",
            "LANGFUSE_SECRET_KEY": "sk-test",
            "LANGFUSE_HOST": fake.url,
            "BANDIT_ROUTER_LANGFUSE_POLL_SECONDS": "0.2",
        },
    )
    try:
        with server.client() as http:
            routed = http.post("/v1/route", json={"policy": "default", "prompt": "hi"}).json()
            assert routed["trace_id"] == trace_id_for(routed["decision_id"])
            _wait(lambda: routed["trace_id"] in fake.traces(), "the trace")
            # The application's own generation goes into the same trace (the README's code).
            application = Langfuse(
                public_key=f"pk-{uuid.uuid4().hex}",
                secret_key="sk-app",
                host=fake.url,
                tracer_provider=TracerProvider(),
            )
            with application.start_as_current_observation(
                as_type="generation",
                name="answer",
                trace_context={"trace_id": routed["trace_id"]},
                model=routed["model"],
                input="hi",
            ) as generation:
                generation.update(output="hello", usage_details={"input": 1, "output": 1})
            application.flush()
            names = {span.name for span in fake.traces()[routed["trace_id"]]}
            assert names == {"bandit-router.route", "answer"}
            fake.add_score(score_id="s-1", trace_id=routed["trace_id"], name="q", value=0.9)
            _wait(
                lambda: http.get(f"/v1/decisions/{routed['decision_id']}").json()["feedback"],
                "the score as feedback",
            )
            [feedback] = http.get(f"/v1/decisions/{routed['decision_id']}").json()["feedback"]
            assert (feedback["source"], feedback["score"]) == ("reviewer", 0.9)
            status = http.get("/v1/status").json()["langfuse"]
            assert status["exported"] >= 1
            assert status["dropped"] == 0
            assert status["scores_imported"] == 1
            # The same counts in /metrics, and the imported score counted as feedback.
            scraped = {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(http.get("/metrics").text)
                for sample in family.samples
            }
            events = "bandit_router_langfuse_events_total"
            assert scraped[events, (("outcome", "exported"),)] >= 1
            assert scraped[events, (("outcome", "dropped"),)] == 0
            assert scraped["bandit_router_langfuse_poll_failures_total", ()] == 0
            counted = (("model", routed["model"]), ("policy", "default"))
            assert scraped["bandit_router_feedback_total", counted] == 1
    finally:
        server.stop()


def test_without_langfuse_the_trace_id_is_null(tmp_path: Path) -> None:
    server = start_server(f"sqlite:///{tmp_path / 'router.db'}", tmp_path)
    try:
        with server.client() as http:
            routed = http.post("/v1/route", json={"policy": "default"}).json()
            assert routed["trace_id"] is None
            assert http.get("/v1/status").json()["langfuse"] is None
    finally:
        server.stop()


def test_langfuse_settings_come_from_the_sdk_variables() -> None:
    assert Settings.from_environment({}).langfuse is None
    settings = Settings.from_environment(
        {
            "LANGFUSE_PUBLIC_KEY": "pk",
            "LANGFUSE_SECRET_KEY": "sk",
            "BANDIT_ROUTER_LANGFUSE_POLL_SECONDS": "120",
        }
    ).langfuse
    assert settings == LangfuseSettings(
        public_key="pk", secret_key="sk", host="https://cloud.langfuse.com", poll_seconds=120.0
    )
    reviews = Settings.from_environment(
        {
            "LANGFUSE_PUBLIC_KEY": "pk",
            "LANGFUSE_SECRET_KEY": "sk",
            "BANDIT_ROUTER_LANGFUSE_REVIEW_SECONDS": "0",
        }
    ).langfuse
    assert reviews is not None
    assert reviews.review_seconds == 0.0
    with pytest.raises(ValueError, match="LANGFUSE_SECRET_KEY is not set"):
        Settings.from_environment({"LANGFUSE_PUBLIC_KEY": "pk"})
    with pytest.raises(ValueError, match="got 'soon'"):
        Settings.from_environment(
            {
                "LANGFUSE_PUBLIC_KEY": "pk",
                "LANGFUSE_SECRET_KEY": "sk",
                "BANDIT_ROUTER_LANGFUSE_POLL_SECONDS": "soon",
            }
        )
