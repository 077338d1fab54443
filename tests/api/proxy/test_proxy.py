"""The OpenAI-compatible endpoint against the real server process, called with the official
``openai`` SDK, in front of local fake providers (tests/proxy_fake.py): answers whole and
streamed (OpenAI and Anthropic shapes), retries, fallbacks, slow starts, a provider dying
mid-stream, parameters passed through, the key-variable guard, and the feedback it records."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.proxy_fake import FakeProviders, fake_providers
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

OPENAI_KEY = "sk-fake-openai-key"
ANTHROPIC_KEY = "sk-ant-fake-key"
#: Cheap prices: 1 and 2 USD per million input / output tokens.
PRICES = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
#: The first model always goes first, the second is its fallback: a deterministic order.
IN_ORDER = {"algorithm": "context_free_epsilon", "epsilon": 0.0, "min_probability": 0.0}


@dataclass
class Setup:
    server: RunningServer
    http: httpx.Client
    fake: FakeProviders
    sdk: openai.OpenAI

    def model(self, name: str, fake_model: str, api: str = "openai", **extra: Any) -> None:
        base = self.fake.openai_base_url if api == "openai" else self.fake.url
        key_env = "FAKE_OPENAI_KEY" if api == "openai" else "FAKE_ANTHROPIC_KEY"
        response = self.http.put(
            f"/v1/models/{name}",
            json={
                **PRICES,
                "provider": "fake",
                "endpoint": {
                    "api": api,
                    "base_url": base,
                    "model": fake_model,
                    "api_key_env": key_env,
                },
                **extra,
            },
        )
        assert response.status_code in (200, 201), response.text

    def policy(self, name: str, models: list[str], **config: Any) -> None:
        response = self.http.put(
            f"/v1/policies/{name}",
            json={"models": models, "exploration": IN_ORDER, **config},
        )
        assert response.status_code in (200, 201), response.text

    def decision(self, decision_id: str, *, feedback: int = 1) -> dict[str, Any]:
        """The decision once it holds ``feedback`` feedbacks (a stream's comes at its end)."""
        deadline = time.monotonic() + 30
        while True:
            body: dict[str, Any] = self.http.get(f"/v1/decisions/{decision_id}").json()
            if len(body["feedback"]) >= feedback:
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.05)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir: Path = tmp_path_factory.mktemp("proxy")
    with fake_providers() as fake:
        server = start_server(
            f"sqlite:///{workdir / 'router.db'}",
            workdir,
            env={
                "BANDIT_ROUTER_PROVIDER_KEY_ENVS": "FAKE_OPENAI_KEY, FAKE_ANTHROPIC_KEY",
                "FAKE_OPENAI_KEY": OPENAI_KEY,
                "FAKE_ANTHROPIC_KEY": ANTHROPIC_KEY,
                "BANDIT_ROUTER_PROXY_RETRIES": "1",
                "BANDIT_ROUTER_PROXY_BACKOFF_SECONDS": "0.01",
                "BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS": "1",
                "BANDIT_ROUTER_PROXY_RETRY_AFTER_MAX_SECONDS": "0.2",
            },
        )
        try:
            with server.client() as http:
                sdk = openai.OpenAI(
                    base_url=f"{server.url}/v1", api_key=server.admin_key, max_retries=0
                )
                with sdk:
                    yield Setup(server, http, fake, sdk)
        finally:
            server.stop()


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _ask(text: str = "What is the capital of France?") -> list[Any]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def test_a_whole_answer_comes_back_in_openai_form_with_the_decision_and_its_feedback(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"plain-{tag}", f"ok#{tag}")
    setup.policy(f"plain-{tag}", [f"plain-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/plain-{tag}", messages=_ask()
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == f"Answer from ok#{tag}."
    assert completion.choices[0].finish_reason == "stop"
    assert raw.headers["x-bandit-router-model"] == f"plain-{tag}"
    decision = setup.decision(raw.headers["x-bandit-router-decision-id"])
    assert decision["model"] == f"plain-{tag}"
    assert decision["policy"] == f"plain-{tag}"
    [feedback] = decision["feedback"]
    assert feedback["source"] == "proxy"
    assert feedback["error"] is None
    # The fake counts 8 prompt words and 3 answer words: 8 * 1 + 3 * 2 USD per million.
    assert (feedback["input_tokens"], feedback["output_tokens"]) == (8, 3)
    assert feedback["cost_usd"] == pytest.approx(14e-6)
    assert feedback["latency_ms"] > 0
    # The key was read from its variable and sent; the fake got the endpoint's model name.
    [headers] = setup.fake.headers(f"ok#{tag}")
    assert headers["authorization"] == f"Bearer {OPENAI_KEY}"


def test_a_streamed_answer_arrives_as_chunks_then_done_and_is_reported_at_its_end(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"stream-{tag}", f"answer=one two three#{tag}")
    setup.policy(f"stream-{tag}", [f"stream-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/stream-{tag}",
        messages=_ask(),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three "
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    decision = setup.decision(raw.headers["x-bandit-router-decision-id"])
    [feedback] = decision["feedback"]
    assert (feedback["output_tokens"], feedback["error"]) == (3, None)
    assert raw.headers["content-type"].startswith("text/event-stream")


def test_a_stream_without_include_usage_gets_no_usage_chunk_but_usage_is_still_reported(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"nousage-{tag}", f"ok#{tag}")
    setup.policy(f"nousage-{tag}", [f"nousage-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/nousage-{tag}", messages=_ask(), stream=True
    )
    chunks = list(raw.parse())
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    [sent] = setup.fake.bodies(f"ok#{tag}")
    assert sent["stream_options"] == {"include_usage": True}
    [feedback] = setup.decision(raw.headers["x-bandit-router-decision-id"])["feedback"]
    assert feedback["input_tokens"] == 8


def test_anthropic_answers_come_back_in_openai_form_whole_and_streamed(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"claude-{tag}", f"answer=Paris it is#{tag}", api="anthropic")
    setup.policy(f"claude-{tag}", [f"claude-{tag}"])
    whole = setup.sdk.chat.completions.create(
        model=f"router/claude-{tag}", messages=_ask(), max_tokens=64
    )
    assert whole.choices[0].message.content == "Paris it is"
    assert whole.usage is not None
    # The system prompt travels apart (Anthropic's "system"): the fake counts 6 words.
    assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (6, 3)
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/claude-{tag}",
        messages=_ask(),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "Paris it is "
    )
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    [feedback] = setup.decision(raw.headers["x-bandit-router-decision-id"])["feedback"]
    assert (feedback["input_tokens"], feedback["output_tokens"]) == (6, 3)
    sent = setup.fake.bodies(f"answer=Paris it is#{tag}")
    assert sent[0]["system"] == "Be brief."
    assert sent[0]["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert sent[0]["max_tokens"] == 64
    assert setup.fake.headers(f"answer=Paris it is#{tag}")[0]["x-api-key"] == ANTHROPIC_KEY


def test_unknown_parameters_tools_and_response_format_reach_the_provider(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"params-{tag}", f"ok#{tag}")
    setup.policy(f"params-{tag}", [f"params-{tag}"])
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    setup.sdk.chat.completions.create(
        model=f"router/params-{tag}",
        messages=_ask(),
        tools=tools,
        response_format={"type": "json_object"},
        temperature=0.3,
        extra_body={"vendor_knob": {"depth": 2}, "top_k": 7},
    )
    [sent] = setup.fake.bodies(f"ok#{tag}")
    assert sent["tools"] == tools
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["temperature"] == 0.3
    assert sent["vendor_knob"] == {"depth": 2}
    assert sent["top_k"] == 7
    assert sent["messages"] == _ask()


def test_a_429_is_retried_on_the_same_model_within_one_decision(setup: Setup) -> None:
    tag = _tag()
    name = f"fail-429-then-ok=1#{tag}"
    setup.model(f"limited-{tag}", name)
    setup.policy(f"limited-{tag}", [f"limited-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/limited-{tag}", messages=_ask()
    )
    assert raw.parse().choices[0].message.content == f"Answer from {name}."
    assert len(setup.fake.bodies(name)) == 2
    decision = setup.decision(raw.headers["x-bandit-router-decision-id"])
    assert decision["fallback_of"] is None
    assert decision["feedback"][0]["error"] is None


def test_retry_after_is_honoured_only_up_to_its_cap(setup: Setup) -> None:
    tag = _tag()
    name = f"fail-429-long#{tag}"
    setup.model(f"patient-{tag}", name)
    setup.policy(f"patient-{tag}", [f"patient-{tag}"])
    began = time.monotonic()
    answer = setup.sdk.chat.completions.create(model=f"router/patient-{tag}", messages=_ask())
    # The provider asked for 3600 s; BANDIT_ROUTER_PROXY_RETRY_AFTER_MAX_SECONDS is 0.2.
    assert time.monotonic() - began < 10
    assert answer.choices[0].message.content == f"Answer from {name}."
    assert len(setup.fake.bodies(name)) == 2


def test_a_5xx_falls_back_to_the_next_model_as_a_decision_of_its_own(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"down-{tag}", f"fail-500#{tag}")
    setup.model(f"up-{tag}", f"ok#{tag}")
    setup.policy(f"fallback-{tag}", [f"down-{tag}", f"up-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/fallback-{tag}", messages=_ask()
    )
    assert raw.parse().choices[0].message.content == f"Answer from ok#{tag}."
    assert raw.headers["x-bandit-router-model"] == f"up-{tag}"
    answered = setup.decision(raw.headers["x-bandit-router-decision-id"])
    assert answered["model"] == f"up-{tag}"
    assert answered["feedback"][0]["error"] is None
    failed = setup.decision(answered["fallback_of"])
    assert failed["model"] == f"down-{tag}"
    [feedback] = failed["feedback"]
    assert "HTTP 500" in feedback["error"]
    assert feedback["fallback"] is True
    # One retry (BANDIT_ROUTER_PROXY_RETRIES=1), then the fallback.
    assert len(setup.fake.bodies(f"fail-500#{tag}")) == 2


def test_a_slow_start_times_out_and_falls_back(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"slow-{tag}", f"slow=3#{tag}")
    setup.model(f"quick-{tag}", f"ok#{tag}")
    setup.policy(f"slow-{tag}", [f"slow-{tag}", f"quick-{tag}"])
    began = time.monotonic()
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/slow-{tag}", messages=_ask(), stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == f"Answer from ok#{tag}. "
    # Two starts of at most 1 s each (BANDIT_ROUTER_PROXY_FIRST_BYTE_SECONDS), not 3 s each.
    assert time.monotonic() - began < 5.5
    answered = setup.decision(raw.headers["x-bandit-router-decision-id"])
    failed = setup.decision(answered["fallback_of"])
    assert "did not start answering within 1 s" in failed["feedback"][0]["error"]


def test_every_model_failing_is_a_502_naming_each_attempt(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"dead-a-{tag}", f"fail-500#a{tag}")
    setup.model(f"dead-b-{tag}", f"fail-500#b{tag}")
    setup.policy(f"dead-{tag}", [f"dead-a-{tag}", f"dead-b-{tag}"])
    with pytest.raises(openai.APIStatusError) as raised:
        setup.sdk.chat.completions.create(model=f"router/dead-{tag}", messages=_ask())
    assert raised.value.status_code == 502
    assert f"dead-a-{tag}" in raised.value.message
    assert f"dead-b-{tag}" in raised.value.message


def test_a_provider_dying_mid_stream_is_an_error_event_and_an_error_feedback(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"dies-{tag}", f"dies#{tag}")
    setup.policy(f"dies-{tag}", [f"dies-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/dies-{tag}", messages=_ask(), stream=True
    )
    received: list[str] = []

    def read() -> None:
        for chunk in raw.parse():
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as raised:
        read()
    assert received  # the start was relayed before the provider died
    assert f"dies-{tag} failed mid-stream" in raised.value.message
    [feedback] = setup.decision(raw.headers["x-bandit-router-decision-id"])["feedback"]
    assert feedback["error"] is not None


def test_a_provider_refusing_the_request_is_the_clients_4xx_without_fallback(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"strict-{tag}", f"refuse-400#{tag}")
    setup.model(f"lenient-{tag}", f"ok#{tag}")
    setup.policy(f"strict-{tag}", [f"strict-{tag}", f"lenient-{tag}"])
    with pytest.raises(openai.BadRequestError) as raised:
        setup.sdk.chat.completions.create(model=f"router/strict-{tag}", messages=_ask())
    assert "Invalid parameter: bogus" in raised.value.message
    assert setup.fake.bodies(f"ok#{tag}") == []


def test_models_without_an_endpoint_are_left_out_and_none_callable_is_a_clear_422(
    setup: Setup,
) -> None:
    tag = _tag()
    bare = setup.http.put(f"/v1/models/bare-{tag}", json=PRICES)
    assert bare.status_code == 201
    setup.model(f"callable-{tag}", f"ok#{tag}")
    setup.policy(f"mixed-{tag}", [f"bare-{tag}", f"callable-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/mixed-{tag}", messages=_ask()
    )
    decision = setup.decision(raw.headers["x-bandit-router-decision-id"])
    assert decision["candidates"] == [f"callable-{tag}"]
    assert "has no endpoint" in decision["routing"]["excluded"][f"bare-{tag}"]
    setup.policy(f"bare-{tag}", [f"bare-{tag}"])
    with pytest.raises(openai.UnprocessableEntityError) as raised:
        setup.sdk.chat.completions.create(model=f"router/bare-{tag}", messages=_ask())
    assert "has no endpoint, so the proxy cannot call it" in raised.value.message


def test_the_endpoint_is_stored_without_a_key_and_only_listed_key_variables_are_accepted(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"stored-{tag}", f"ok#{tag}")
    got = setup.http.get(f"/v1/models/stored-{tag}").json()
    assert got["endpoint"] == {
        "api": "openai",
        "base_url": setup.fake.openai_base_url,
        "model": f"ok#{tag}",
        "api_key_env": "FAKE_OPENAI_KEY",
    }
    refused = setup.http.put(
        f"/v1/models/thief-{tag}",
        json={
            **PRICES,
            "endpoint": {
                "api": "openai",
                "base_url": "https://attacker.example/v1",
                "model": "x",
                "api_key_env": "BANDIT_ROUTER_ADMIN_KEY",
            },
        },
    )
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "'BANDIT_ROUTER_ADMIN_KEY'" in detail
    assert "BANDIT_ROUTER_PROVIDER_KEY_ENVS" in detail
    bad_api = setup.http.put(
        f"/v1/models/odd-{tag}",
        json={**PRICES, "endpoint": {"api": "cohere", "base_url": "https://x", "model": "m"}},
    )
    assert bad_api.status_code == 422
    assert "api" in bad_api.json()["detail"]


def test_bad_requests_get_a_4xx_naming_the_problem(setup: Setup) -> None:
    response = setup.http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": _ask()})
    assert response.status_code == 422
    assert "router/<policy>" in response.json()["detail"]
    response = setup.http.post(
        "/v1/chat/completions", json={"model": "router/default", "messages": []}
    )
    assert response.status_code == 422
    assert "messages" in response.json()["detail"]
    response = setup.http.post(
        "/v1/chat/completions", json={"model": "router/no-such-policy", "messages": _ask()}
    )
    assert response.status_code == 404
    unauthenticated = httpx.post(
        f"{setup.server.url}/v1/chat/completions",
        json={"model": "router/default", "messages": _ask()},
    )
    assert unauthenticated.status_code == 401


def test_caller_features_come_from_metadata_and_the_header_and_stay_with_the_router(
    setup: Setup,
) -> None:
    tag = _tag()
    setup.model(f"feat-{tag}", f"ok#feat-{tag}")
    setup.policy(f"feat-{tag}", [f"feat-{tag}"])
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/feat-{tag}",
        messages=_ask(),
        extra_body={"metadata": {"task": "code", "tenant": "acme"}},
        extra_headers={"x-bandit-router-features": '{"tier": 2, "tenant": "globex"}'},
    )
    decision = setup.decision(raw.headers["x-bandit-router-decision-id"])
    # The header wins on a name both give; metadata values are categories.
    assert decision["features"] == {"task": "code", "tenant": "globex", "tier": 2.0}
    assert "caller" in decision["context"]
    [sent] = setup.fake.bodies(f"ok#feat-{tag}")
    assert "metadata" not in sent  # it describes the caller to the router, not to the provider
    # Asked for, metadata goes on to the provider as well.
    setup.sdk.chat.completions.create(
        model=f"router/feat-{tag}",
        messages=_ask(),
        extra_body={"metadata": {"task": "chat"}},
        extra_headers={"x-bandit-router-forward-metadata": "true"},
    )
    assert setup.fake.bodies(f"ok#feat-{tag}")[-1]["metadata"] == {"task": "chat"}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"extra_headers": {"x-bandit-router-features": "{task: code}"}}, "is not JSON"),
        ({"extra_headers": {"x-bandit-router-features": '["code"]'}}, "got a list"),
        ({"extra_body": {"metadata": {"task": ["code"]}}}, "Caller feature 'task' (from metadata)"),
        ({"extra_body": {"metadata": "code"}}, "metadata must be an object"),
        ({"extra_headers": {"x-bandit-router-features": '{"n": NaN}'}}, "is not JSON"),
        ({"extra_headers": {"x-bandit-router-features": '{"n": 1e300}'}}, "'n'"),
        ({"extra_headers": {"x-bandit-router-forward-metadata": "perhaps"}}, "true or false"),
    ],
)
def test_bad_caller_features_are_a_422_naming_the_problem_and_reach_no_provider(
    setup: Setup, extra: dict[str, Any], fragment: str
) -> None:
    tag = _tag()
    setup.model(f"badfeat-{tag}", f"ok#badfeat-{tag}")
    setup.policy(f"badfeat-{tag}", [f"badfeat-{tag}"])
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        setup.sdk.chat.completions.create(model=f"router/badfeat-{tag}", messages=_ask(), **extra)
    assert fragment in str(refused.value)
    assert setup.fake.bodies(f"ok#badfeat-{tag}") == []


def _wait_learned(setup: Setup, policy: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        learner = setup.http.get(f"/v1/policies/{policy}").json()["learner"]
        if learner["learned_interactions"] >= count and learner["lag"] == 0:
            return
        assert time.monotonic() < deadline, learner
        time.sleep(0.05)


def test_a_cascade_runs_end_to_end_with_rule_and_judge_signals(setup: Setup) -> None:
    tag = _tag()
    setup.model(f"cheap-{tag}", f"answer=The answer is (B).#c{tag}")
    setup.model(f"probe-{tag}", f"answer=Answer: B#p{tag}")
    setup.model(f"strong-{tag}", f"answer=Strong says C.#s{tag}")
    setup.model(f"judge-{tag}", f"answer=3#j{tag}")
    policy = f"cascade-{tag}"
    setup.policy(
        policy,
        [f"cheap-{tag}", f"probe-{tag}", f"strong-{tag}"],
        cascade={
            "first": [f"cheap-{tag}"],
            "escalate": [f"strong-{tag}"],
            "probe": f"probe-{tag}",
            "judge": f"judge-{tag}",
        },
    )
    assert setup.http.get(f"/v1/policies/{policy}").json()["cascade"]["judge"] == f"judge-{tag}"
    # An escalation policy that has learned nothing tries `accept` first (its first arm).
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/{policy}", messages=_ask("Which one, A, B or C?"), stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "The answer is (B)."
    assert raw.headers["x-bandit-router-model"] == f"cheap-{tag}"
    first = setup.decision(raw.headers["x-bandit-router-decision-id"])
    escalation = setup.decision(raw.headers["x-bandit-router-escalation-id"])
    assert (escalation["model"], escalation["escalation_of"]) == ("accept", first["decision_id"])
    # Signals read off the answers: the probe agrees (both chose B); the judge gave 3/10.
    assert escalation["context"]["signals"]["agree"] == 1.0
    assert escalation["context"]["signals"]["judge"] == pytest.approx(0.3)
    # What the first call, the probe and the judge cost is carried into the escalation.
    first_cost = first["feedback"][0]["cost_usd"]
    assert escalation["prior_cost_usd"] > first_cost > 0
    # A poor score for keeping the first answer: the next request escalates.
    scored = setup.http.post(
        "/v1/feedback",
        json={"decision_id": escalation["decision_id"], "score": 0.2, "source": "user"},
    )
    assert scored.status_code == 201, scored.text
    _wait_learned(setup, f"{policy}.escalation", 1)
    whole = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/{policy}", messages=_ask("Which one, A, B or C?")
    )
    assert whole.parse().choices[0].message.content == "Strong says C."
    assert whole.headers["x-bandit-router-model"] == f"strong-{tag}"
    answered = whole.headers["x-bandit-router-decision-id"]
    assert whole.headers["x-bandit-router-escalation-id"] == answered
    escalated = setup.decision(answered)
    assert escalated["model"] == f"strong-{tag}"
    assert escalated["feedback"][0]["output_tokens"] == 3


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_provider_that_echoes_the_key_never_shows_it(setup: Setup, api: str) -> None:
    """Issue 21: provider error text reached the caller and feedback.error verbatim, key
    included. It is redacted before it is returned, logged or stored."""
    tag = _tag()
    setup.model(f"echo-{tag}", f"echo-key#{tag}", api=api)
    setup.policy(f"echo-{tag}", [f"echo-{tag}"])

    with pytest.raises(openai.APIStatusError) as failed:
        setup.sdk.chat.completions.create(model=f"router/echo-{tag}", messages=_ask())

    key = OPENAI_KEY if api == "openai" else ANTHROPIC_KEY
    detail = failed.value.response.text
    assert failed.value.status_code == 502
    assert "Incorrect API key provided" in detail
    assert key not in detail
    assert "[redacted]" in detail
    # What the router stored of the failure (feedback.error) is redacted too.
    exported = setup.http.get(f"/v1/policies/echo-{tag}/export", params={"format": "jsonl"}).text
    assert "Incorrect API key provided" in exported
    assert key not in exported
    assert key not in setup.server.log()
