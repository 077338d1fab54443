"""The HTTP contract of DESIGN.md against the real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _detail(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail.endswith("."), detail
    for fragment in fragments:
        assert fragment in detail, detail
    return detail


def test_fresh_start_routes_with_the_default_policy(client: httpx.Client) -> None:
    response = client.post("/v1/route", json={"prompt": "Summarise this paragraph, please."})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {
        "decision_id",
        "model",
        "probability",
        "policy",
        "policy_version",
        "ranking",
        "experiment",
    }
    assert body["policy"] == "default"
    assert body["experiment"] is None
    ranking = {r["model"]: r["probability"] for r in body["ranking"]}
    assert math.isclose(sum(ranking.values()), 1.0, abs_tol=1e-9)
    assert ranking[body["model"]] == body["probability"]
    probabilities = [r["probability"] for r in body["ranking"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_route_feedback_decision_walkthrough(client: httpx.Client) -> None:
    routed = client.post(
        "/v1/route", json={"prompt": "2+2?", "features": {"task": "math", "vip": True}}
    )
    decision_id = routed.json()["decision_id"]
    feedback = client.post(
        "/v1/feedback",
        json={
            "decision_id": decision_id,
            "stars": 4,
            "source": "reviewer",
            "cost_usd": 0.002,
            "latency_ms": 350,
            "idempotency_key": f"walk-{decision_id}",
        },
    )
    assert feedback.status_code == 201, feedback.text
    assert feedback.json()["score"] == 0.75
    stored = client.get(f"/v1/decisions/{decision_id}").json()
    assert stored["model"] == routed.json()["model"]
    assert stored["features"] == {"task": "math", "vip": True}
    assert stored["join_status"] == "joined"
    assert stored["reward"]["quality"] == 0.75
    assert [f["feedback_id"] for f in stored["feedback"]] == [feedback.json()["feedback_id"]]
    assert stored["prompt"] is None
    assert stored["prompt_hash"]


def test_client_decision_id_retry_returns_the_stored_decision(client: httpx.Client) -> None:
    body = {"prompt": "retry me", "decision_id": "retry-123"}
    first = client.post("/v1/route", json=body).json()
    second = client.post("/v1/route", json=body).json()
    assert first == second
    _detail(client.post("/v1/route", json={**body, "prompt": "other"}), 409, "retry-123")


def test_feedback_idempotency(client: httpx.Client) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    body = {"decision_id": decision_id, "score": 0.5, "idempotency_key": f"idem-{decision_id}"}
    first = client.post("/v1/feedback", json=body)
    second = client.post("/v1/feedback", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["feedback_id"] == second.json()["feedback_id"]
    assert second.json()["duplicate"] is True
    _detail(client.post("/v1/feedback", json={**body, "score": 0.9}), 409, "idem-")


@pytest.mark.parametrize(
    ("path", "body", "status", "fragment"),
    [
        ("/v1/route", {"policy": "nope"}, 404, "'nope'"),
        ("/v1/route", {"candidates": []}, 422, "empty"),
        ("/v1/route", {"candidates": ["gpt-4o", "unknown-model"]}, 422, "unknown-model"),
        ("/v1/route", {"candidates": ["gpt-4o", "gpt-4o"]}, 422, "duplicates"),
        ("/v1/route", {"candidates": [f"m{i}" for i in range(51)]}, 422, "at most 50"),
        ("/v1/route", {"features": {"task": {"nested": 1}}}, 422, "features"),
        ("/v1/route", {"features": {f"k{i}": 1 for i in range(65)}}, 422, "features"),
        ("/v1/route", {"prompt": 7}, 422, "prompt"),
        ("/v1/route", {"surprise": 1}, 422, "surprise"),
        ("/v1/feedback", {"decision_id": "missing", "score": 0.5}, 404, "'missing'"),
        ("/v1/feedback", {"decision_id": "x", "score": 1.5}, 422, "score"),
        ("/v1/feedback", {"decision_id": "x", "score": -0.1}, 422, "score"),
        ("/v1/feedback", {"decision_id": "x", "stars": 6}, 422, "stars"),
        ("/v1/feedback", {"decision_id": "x", "cost_usd": -1}, 422, "cost_usd"),
        ("/v1/feedback", {"decision_id": "x"}, 422, "at least one"),
        ("/v1/feedback", {"decision_id": "x", "score": 0.5, "stars": 3}, 422, "not both"),
        ("/v1/feedback", {"score": 0.5}, 422, "decision_id"),
    ],
)
def test_bad_input_gets_a_4xx_sentence(
    client: httpx.Client, path: str, body: dict[str, object], status: int, fragment: str
) -> None:
    _detail(client.post(path, json=body), status, fragment)


@pytest.mark.parametrize(
    ("literal", "status"),
    # Not finite JSON numbers (Python's json module emits NaN anyway): rejected as malformed.
    [("NaN", 400), ("Infinity", 400), ("-Infinity", 400), ("1e999", 400), ("-1e999", 400)],
)
def test_non_finite_scores_are_rejected(client: httpx.Client, literal: str, status: int) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    raw = f'{{"decision_id": "{decision_id}", "score": {literal}}}'
    response = client.post(
        "/v1/feedback", content=raw, headers={"content-type": "application/json"}
    )
    _detail(response, status)
    stored = client.get(f"/v1/decisions/{decision_id}").json()
    assert stored["feedback"] == []


def test_malformed_json_and_oversized_bodies(client: httpx.Client) -> None:
    response = client.post(
        "/v1/route", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]
    big = {"prompt": "x" * (300 * 1024)}
    _detail(client.post("/v1/route", json=big), 413)


def test_unknown_decision_is_404(client: httpx.Client) -> None:
    _detail(client.get("/v1/decisions/does-not-exist"), 404, "'does-not-exist'")


def test_models_and_policies_are_created_read_and_validated(client: httpx.Client) -> None:
    created = client.put(
        "/v1/models/tiny", json={"input_usd_per_mtok": 0.01, "output_usd_per_mtok": 0.02}
    )
    assert created.status_code == 201, created.text
    replaced = client.put(
        "/v1/models/tiny",
        json={
            "input_usd_per_mtok": 0.02,
            "output_usd_per_mtok": 0.04,
            "features": {"context_window": 8192},
        },
    )
    assert replaced.status_code == 200
    assert client.get("/v1/models/tiny").json()["features"] == {"context_window": 8192}
    assert "tiny" in [m["id"] for m in client.get("/v1/models").json()]
    _detail(client.get("/v1/models/huge"), 404, "'huge'")
    _detail(
        client.put("/v1/models/bad", json={"input_usd_per_mtok": -1, "output_usd_per_mtok": 1}), 422
    )

    policy = client.put("/v1/policies/cheap", json={"models": ["tiny", "gpt-4o-mini"]})
    assert policy.status_code == 201, policy.text
    defaults = policy.json()
    assert defaults["exploration"]["algorithm"] == "squarecb"
    assert defaults["reward"]["wait_seconds"] == 0.0
    again = client.put(
        "/v1/policies/cheap",
        json={
            "models": ["tiny", "gpt-4o-mini"],
            "exploration": {"algorithm": "epsilon", "epsilon": 0.1},
            "reward": {
                "cost_weight": 5,
                "sources": {"reviewer": {"weight": 2, "aggregation": "mean"}},
            },
        },
    )
    assert again.status_code == 200
    assert again.json()["revision"] == defaults["revision"] + 1
    assert client.get("/v1/policies/cheap").json()["exploration"]["epsilon"] == 0.1
    routed = client.post("/v1/route", json={"policy": "cheap"}).json()
    assert routed["model"] in {"tiny", "gpt-4o-mini"}

    _detail(client.put("/v1/policies/bad", json={"models": ["ghost"]}), 422, "ghost")
    _detail(client.put("/v1/policies/bad", json={"models": []}), 422, "at least one")
    _detail(
        client.put("/v1/policies/bad", json={"models": ["tiny"], "exploration": {"epsilon": 2}}),
        422,
        "epsilon",
    )
    _detail(
        client.put(
            "/v1/policies/bad", json={"models": ["tiny"], "exploration": {"algorithm": "magic"}}
        ),
        422,
        "algorithm",
    )
    _detail(client.get("/v1/policies/bad"), 404, "'bad'")


def test_retired_models_are_not_routed(client: httpx.Client) -> None:
    for model in ("keep", "retire"):
        client.put(f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put("/v1/policies/retiring", json={"models": ["keep", "retire"]})
    client.put(
        "/v1/models/retire",
        json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "status": "retired"},
    )
    for _ in range(20):
        assert client.post("/v1/route", json={"policy": "retiring"}).json()["model"] == "keep"
    _detail(
        client.post("/v1/route", json={"policy": "retiring", "candidates": ["retire"]}),
        422,
        "retire",
    )


def test_openapi_and_health(client: httpx.Client) -> None:
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    assert {"/v1/route", "/v1/feedback", "/v1/decisions/{decision_id}"} <= set(
        schema.json()["paths"]
    )
    assert client.get("/health").json()["status"] == "ok"


_json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20) | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/v1/route", "/v1/feedback"]),
    body=st.dictionaries(
        st.sampled_from(
            [
                "policy",
                "prompt",
                "features",
                "candidates",
                "decision_id",
                "score",
                "source",
                "cost_usd",
                "latency_ms",
                "stars",
                "idempotency_key",
            ]
        ),
        _json_values,
        max_size=5,
    ),
)
def test_arbitrary_bodies_never_cause_a_5xx(
    client: httpx.Client, path: str, body: dict[str, object]
) -> None:
    response = client.post(
        path, content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text


def test_a_policy_can_route_on_prompt_embeddings(client: httpx.Client) -> None:
    created = client.put(
        "/v1/policies/semantic",
        json={
            "models": ["gpt-4o", "gpt-4o-mini"],
            "features": {"embedding": True, "words": False},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["features"] == {"text": True, "words": False, "embedding": True}
    routed = client.post("/v1/route", json={"policy": "semantic", "prompt": "Prove that 2+2=4."})
    assert routed.status_code == 200, routed.text
    stored = client.get(f"/v1/decisions/{routed.json()['decision_id']}").json()
    assert "words" not in stored["context"]
    assert len(stored["context"]["embedding"]) > 200


def test_feedback_can_report_a_fallback(client: httpx.Client) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    stored = client.post("/v1/feedback", json={"decision_id": decision_id, "fallback": True})
    assert stored.status_code == 201, stored.text
    assert stored.json()["fallback"] is True
    decision = client.get(f"/v1/decisions/{decision_id}").json()
    assert decision["feedback"][0]["fallback"] is True
