"""The fake Langfuse server understands what the real SDK sends and serves what it reads."""

from __future__ import annotations

import uuid

import pytest
from langfuse import Langfuse
from opentelemetry.sdk.trace import TracerProvider

from tests.langfuse_fake import fake_langfuse


def _client(url: str) -> Langfuse:
    # The SDK keeps one client per public key for the process: a fresh key per test.
    return Langfuse(
        public_key=f"pk-{uuid.uuid4().hex}",
        secret_key="sk-test",
        host=url,
        tracer_provider=TracerProvider(),
        timeout=2,
    )


def test_the_fake_records_spans_and_scores_the_sdk_sends() -> None:
    with fake_langfuse() as fake:
        client = _client(fake.url)
        trace_id = Langfuse.create_trace_id(seed="decision-1")
        span = client.start_span(
            name="route", trace_context={"trace_id": trace_id}, metadata={"model": "m1"}
        )
        span.end()
        client.create_score(trace_id=trace_id, name="user", value=0.75, score_id="s-1")
        client.flush()
        client.shutdown()
        [recorded] = fake.traces()[trace_id]
        assert recorded.name == "route"
        assert recorded.attributes["langfuse.observation.metadata.model"] == "m1"
        [score] = fake.sent_scores
        assert (score["id"], score["traceId"], score["name"], score["value"]) == (
            "s-1",
            trace_id,
            "user",
            0.75,
        )


def test_the_fake_serves_scores_and_configs_in_the_sdk_types_with_pages() -> None:
    with fake_langfuse() as fake:
        fake.add_config(config_id="c-1", name="stars", min_value=1.0, max_value=5.0)
        for n in range(3):
            fake.add_score(score_id=f"s-{n}", trace_id="t" * 32, name="stars", value=n + 1.0)
        client = _client(fake.url)
        first = client.api.score_v_2.get(page=1, limit=2)
        second = client.api.score_v_2.get(page=2, limit=2)
        assert first.meta.total_items == 3
        assert first.meta.total_pages == 2
        assert [s.id for s in first.data + second.data] == ["s-2", "s-1", "s-0"]
        [config] = client.api.score_configs.get().data
        assert (config.min_value, config.max_value) == (1.0, 5.0)
        client.shutdown()


def test_the_fake_fails_on_request() -> None:
    with fake_langfuse() as fake:
        fake.mode = "error"
        client = _client(fake.url)
        with pytest.raises(Exception, match="500"):
            client.api.score_v_2.get()
        client.shutdown()
