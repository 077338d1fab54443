"""Issue 20, part 5: a conversation stays on the model of its first turn, found by the
``x-bandit-router-session`` header or by the conversation the router answered (a pending tool
call above all); later turns are continuations (probability 1, never learned) whose feedback
reaches the first decision; a session whose model fails carries on with the fallback. Real
server, official ``openai`` SDK, local fakes answering in OpenAI's shapes."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from tests.proxy_fake import FakeProviders
from tests.proxy_world import KEY_ENV, proxy_world
from tests.server import RunningServer

pytestmark = pytest.mark.e2e

AGENTS = ("agent-a", "agent-b", "agent-c")
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a fact up.",
            "parameters": {"type": "object", "properties": {"turn": {"type": "integer"}}},
        },
    }
]


@dataclass
class Setup:
    server: RunningServer
    http: httpx.Client
    fake: FakeProviders
    sdk: openai.OpenAI

    def model(self, name: str, behaviour: str) -> None:
        self.http.put(
            f"/v1/models/{name}",
            json={
                "input_usd_per_mtok": 1.0,
                "output_usd_per_mtok": 2.0,
                "endpoint": {
                    "api": "openai",
                    "base_url": self.fake.openai_base_url,
                    "model": behaviour,
                    "api_key_env": KEY_ENV,
                },
            },
        ).raise_for_status()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("sessions")
    with proxy_world(workdir, env={"BANDIT_ROUTER_PROXY_RETRIES": "0"}, sdk_retries=0) as world:
        setup = Setup(world.server, world.http, world.fake, world.sdk)
        for name in AGENTS:
            setup.model(name, f"agent={name}")
        # Uniform: every first turn is a coin toss, so a turn that lost its session would
        # land elsewhere two times in three.
        world.http.put(
            "/v1/policies/agents",
            json={"models": list(AGENTS), "exploration": {"algorithm": "uniform"}},
        ).raise_for_status()
        yield setup


def _turn(setup: Setup, messages: list[Any], session: str | None = None) -> tuple[Any, str, str]:
    headers = {} if session is None else {"x-bandit-router-session": session}
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model="router/agents", messages=messages, tools=TOOLS, extra_headers=headers
    )
    return (
        raw.parse().choices[0].message,
        raw.headers["x-bandit-router-model"],
        raw.headers["x-bandit-router-decision-id"],
    )


def _conversation(setup: Setup, rng: random.Random, session: str | None) -> list[str]:
    """Three turns: a tool call, its result answered, then a new question (a second tool
    call). Returns the model of each turn."""
    messages: list[Any] = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": f"Find fact {rng.randrange(10**6)}."},
    ]
    models = []
    for turn in range(3):
        message, model, _ = _turn(setup, messages, session)
        models.append(model)
        messages.append(message.model_dump(exclude_none=True))
        if message.tool_calls:
            call = message.tool_calls[0]
            result = json.dumps({"fact": rng.randrange(100), "turn": turn})
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        else:
            messages.append({"role": "user", "content": "And another one?"})
    return models


@pytest.mark.parametrize("with_header", [False, True], ids=["by conversation", "by header"])
def test_fifty_agent_conversations_each_stay_on_their_first_model(
    setup: Setup, with_header: bool
) -> None:
    rng = random.Random(20 + with_header)
    runs = [
        _conversation(setup, rng, f"s-{uuid.uuid4().hex}" if with_header else None)
        for _ in range(50)
    ]

    assert all(len(set(models)) == 1 for models in runs), runs
    # The first turns were spread over the models: staying put is the sessions' doing.
    assert len({models[0] for models in runs}) == 3


def test_later_turns_are_continuations_whose_feedback_reaches_the_first_decision(
    setup: Setup,
) -> None:
    session = f"s-{uuid.uuid4().hex}"
    messages: list[Any] = [{"role": "user", "content": "Find fact 7."}]
    _, model, first = _turn(setup, messages, session)
    messages.append({"role": "user", "content": "And fact 8?"})
    _, again, second = _turn(setup, messages, session)
    assert again == model

    later = _with_proxy_feedback(setup, second)
    assert later["continues"] == first
    assert later["probability"] == 1.0
    assert [c["probability"] for c in later["ranking"]] == [1.0]
    assert later["join_status"] == "skipped"
    # The proxy's own report of the second call stays with the turn it measured.
    assert [f["source"] for f in later["feedback"]] == ["proxy"]
    sent = setup.http.post(
        "/v1/feedback", json={"decision_id": second, "score": 0.9, "source": "user"}
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["decision_id"] == first
    scored = setup.http.get(f"/v1/decisions/{first}").json()
    assert [f["score"] for f in scored["feedback"] if f["source"] == "user"] == [0.9]
    assert scored["reward"]["quality"] == 0.9


def _with_proxy_feedback(setup: Setup, decision_id: str) -> dict[str, Any]:
    """The decision once the proxy's report of its call (stored after the answer) is in."""
    deadline = time.monotonic() + 10
    while True:
        decision: dict[str, Any] = setup.http.get(f"/v1/decisions/{decision_id}").json()
        if decision["feedback"] or time.monotonic() > deadline:
            return decision
        time.sleep(0.05)


@pytest.mark.parametrize("with_header", [False, True], ids=["by conversation", "by header"])
def test_a_session_whose_model_fails_carries_on_with_the_fallback(
    setup: Setup, with_header: bool
) -> None:
    tag = uuid.uuid4().hex[:8]
    # "first" answers its first call only; "second" always answers.
    setup.model(f"first-{tag}", f"fail-after=1#{tag}")
    setup.model(f"second-{tag}", f"agent=second-{tag}")
    policy = f"failover-{tag}"
    setup.http.put(
        f"/v1/policies/{policy}",
        json={
            "models": [f"first-{tag}", f"second-{tag}"],
            "exploration": {"algorithm": "context_free_epsilon", "epsilon": 0.0},
            "health": {"max_error_rate": 1.0},
        },
    ).raise_for_status()
    headers = {"x-bandit-router-session": f"s-{tag}"} if with_header else {}
    messages: list[Any] = [{"role": "user", "content": "Hello."}]
    served = []
    for text in ("Next.", "And next."):
        raw = setup.sdk.chat.completions.with_raw_response.create(
            model=f"router/{policy}", messages=messages, extra_headers=headers
        )
        served.append(raw.headers["x-bandit-router-model"])
        messages += [
            raw.parse().choices[0].message.model_dump(exclude_none=True),
            {"role": "user", "content": text},
        ]
    raw = setup.sdk.chat.completions.with_raw_response.create(
        model=f"router/{policy}", messages=messages, extra_headers=headers
    )
    served.append(raw.headers["x-bandit-router-model"])

    assert served == [f"first-{tag}", f"second-{tag}", f"second-{tag}"]
    last = setup.http.get(f"/v1/decisions/{raw.headers['x-bandit-router-decision-id']}").json()
    assert last["continues"] is not None  # still the session, on its new model


def test_a_bad_session_header_is_a_422_naming_it(setup: Setup) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as error:
        setup.sdk.chat.completions.create(
            model="router/agents",
            messages=[{"role": "user", "content": "Hi"}],
            extra_headers={"x-bandit-router-session": "x" * 300},
        )
    assert "x-bandit-router-session" in str(error.value)


def test_a_regeneration_scores_the_earlier_answer_zero_when_switched_on(setup: Setup) -> None:
    """Part 6, off by default: the same conversation sent again within the window is an
    implicit 0 for the earlier decision; after the window it is a new request."""
    refused = setup.http.put(
        "/v1/policies/regen-refused",
        json={"models": list(AGENTS), "implicit": {"regeneration_seconds": 30}},
    )
    assert refused.status_code == 422
    assert "implicit signals need reward.default_reward" in refused.json()["detail"]
    setup.http.put(
        "/v1/policies/regen",
        json={
            "models": list(AGENTS),
            "implicit": {"regeneration_seconds": 1.0},
            "reward": {"default_reward": 0.5, "wait_seconds": 60},
        },
    ).raise_for_status()
    messages: list[Any] = [{"role": "user", "content": f"Write a haiku about {uuid.uuid4().hex}."}]

    def ask(policy: str = "regen") -> str:
        raw = setup.sdk.chat.completions.with_raw_response.create(
            model=f"router/{policy}", messages=messages
        )
        return raw.headers["x-bandit-router-decision-id"]

    def implicit(decision_id: str) -> list[tuple[float, str]]:
        decision = setup.http.get(f"/v1/decisions/{decision_id}").json()
        return [
            (f["score"], f["source"]) for f in decision["feedback"] if f["source"] == "implicit"
        ]

    first = ask()
    second = ask()  # at once: a regeneration of the first answer
    assert implicit(first) == [(0.0, "implicit")]
    time.sleep(1.2)
    ask()  # past the window: a new request
    assert implicit(second) == []
    # Off by default: the agents policy records nothing of the kind.
    once = ask("agents")
    ask("agents")
    assert implicit(once) == []
