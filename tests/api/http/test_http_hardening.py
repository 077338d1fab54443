"""Issue 9, "no input can break learning": the reproductions, over HTTP against the real server
on SQLite and PostgreSQL. Each test says which measured defect it pins down."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.routes import HTTPRoute

from api.app import create_app
from api.settings import Settings
from bandit.settings import MAX_BITS
from domain import MAX_COST_USD, MAX_LATENCY_MS, MAX_USD_PER_MTOK

JSON = {"content-type": "application/json"}


def _detail(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str), detail
    assert detail.endswith("."), detail
    for fragment in fragments:
        assert fragment in detail, detail
    return detail


def _write_endpoints() -> list[tuple[str, str, bool]]:
    """``(method, path, takes a body)`` of every write endpoint, from the app's own route
    table: a new endpoint is covered without editing this test."""
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    endpoints = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods & {"POST", "PUT", "PATCH", "DELETE"}):
                path = re.sub(r"\{(\w+):\w+\}", r"probe-\1", route.path)
                endpoints.append((method, path, handler.parsed_data_field is not None))
    return sorted(set(endpoints))


WRITE_ENDPOINTS = _write_endpoints()


def _parameterised_paths() -> list[tuple[str, str]]:
    """``(method, path with a NUL in every path parameter)`` of every route that has one."""
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    return sorted(
        {
            (method, re.sub(r"\{(\w+):\w+\}", "probe%00nul", route.path))
            for route in app.routes
            if isinstance(route, HTTPRoute) and "{" in route.path
            for method in route.methods - {"OPTIONS", "HEAD"}
        }
    )


def test_a_nul_in_a_path_or_query_parameter_is_a_400(client: httpx.Client) -> None:
    # GET /v1/decisions/a%00b, PUT /v1/models/a%00b, ... were 500s on PostgreSQL.
    paths = _parameterised_paths()
    assert ("GET", "/v1/decisions/probe%00nul") in paths
    for method, path in paths:
        response = client.request(method, path, json={})
        _detail(response, 400, "NUL character")
    _detail(client.get("/v1/policies/default/drift?bucket_seconds=60%00"), 400, "NUL character")


def test_the_route_table_has_the_write_endpoints() -> None:
    # Guards the test below against an empty list (which would make it pass vacuously).
    assert ("POST", "/v1/route", True) in WRITE_ENDPOINTS
    assert ("PUT", "/v1/policies/probe-name", True) in WRITE_ENDPOINTS
    assert len([e for e in WRITE_ENDPOINTS if e[2]]) >= 5


@pytest.mark.parametrize(
    ("problem", "raw", "fragment"),
    [
        # JSON nested 10,000 deep was a 500 (RecursionError) on every write endpoint.
        ("deep", '{"a": ' + "[" * 10_000 + "]" * 10_000 + "}", "deeper than 32 levels"),
        ("deep-but-decodable", '{"a": ' + "[" * 40 + "]" * 40 + "}", "deeper than 32 levels"),
        # NUL was a 500 on PostgreSQL (and re-ran its whole commit batch one by one).
        ("nul", '{"prompt": "a\\u0000b", "source": "x"}', "NUL character"),
        ("nul-in-key", '{"features": {"k\\u0000": 1}}', "NUL character"),
        ("lone-surrogate", '{"prompt": "a\\ud800b"}', "lone surrogates"),
    ],
)
def test_bad_json_is_a_400_sentence_on_every_write_endpoint(
    client: httpx.Client, problem: str, raw: str, fragment: str
) -> None:
    for method, path, takes_body in WRITE_ENDPOINTS:
        response = client.request(method, path, content=raw, headers=JSON)
        assert response.status_code < 500, (method, path, response.text)
        if takes_body:
            _detail(response, 400, fragment)
    assert client.post("/v1/route", json={"prompt": "still fine"}).status_code == 200


def test_nul_and_surrogates_in_a_valid_route_and_feedback(client: httpx.Client) -> None:
    routed = client.post("/v1/route", json={"prompt": "ok"}).json()
    for path, raw in [
        ("/v1/route", '{"prompt": "hello\\u0000"}'),
        ("/v1/route", '{"prompt": "x", "features": {"task": "a\\u0000"}}'),
        ("/v1/route", '{"prompt": "x", "unit_id": "\\udc00"}'),
        (
            "/v1/feedback",
            f'{{"decision_id": "{routed["decision_id"]}", "score": 1, "source": "u\\u0000"}}',
        ),
        (
            "/v1/feedback",
            f'{{"decision_id": "{routed["decision_id"]}", "score": 1, "error": "\\ud83d"}}',
        ),
    ]:
        _detail(client.post(path, content=raw, headers=JSON), 400)
    assert client.get(f"/v1/decisions/{routed['decision_id']}").json()["feedback"] == []
    # A valid surrogate pair is one character and fine.
    assert client.post("/v1/route", content='{"prompt": "\\ud83d\\ude00"}', headers=JSON).is_success


def test_strings_are_not_coerced_into_numbers_or_booleans(client: httpx.Client) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    # "score": "0.5" was accepted as 0.5.
    _detail(
        client.post("/v1/feedback", json={"decision_id": decision_id, "score": "0.5"}),
        422,
        "score",
        "got `str`",
    )
    _detail(
        client.post("/v1/feedback", json={"decision_id": decision_id, "stars": "4"}), 422, "stars"
    )
    # "store_prompts": "true" switched prompt storage on.
    _detail(
        client.put("/v1/policies/coerced", json={"models": ["gpt-4o"], "store_prompts": "true"}),
        422,
        "store_prompts",
    )
    _detail(
        client.put(
            "/v1/policies/coerced", json={"models": ["gpt-4o"], "exploration": {"bits": "18"}}
        ),
        422,
        "exploration.bits",
    )
    assert client.get("/v1/policies/coerced").status_code == 404
    assert client.get(f"/v1/decisions/{decision_id}").json()["feedback"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost_usd", 1e308),  # made the reward -inf and stopped learning
        ("cost_usd", 1e4),  # flipped the preferred model for 60+ feedbacks
        ("cost_usd", MAX_COST_USD * 1.001),
        ("latency_ms", 1e308),
        ("latency_ms", MAX_LATENCY_MS + 1),
    ],
)
def test_feedback_beyond_the_bounds_is_rejected(
    client: httpx.Client, field: str, value: float
) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    _detail(
        client.post("/v1/feedback", json={"decision_id": decision_id, field: value}), 422, field
    )
    at_bound = MAX_COST_USD if field == "cost_usd" else MAX_LATENCY_MS
    assert client.post(
        "/v1/feedback", json={"decision_id": decision_id, field: at_bound}
    ).is_success


def test_model_prices_are_bounded(client: httpx.Client) -> None:
    # A model priced 1e308 made every route of its policies a 500.
    for price in (1e308, MAX_USD_PER_MTOK * 2):
        _detail(
            client.put(
                "/v1/models/dear", json={"input_usd_per_mtok": price, "output_usd_per_mtok": 1.0}
            ),
            422,
            "input_usd_per_mtok",
        )
    assert client.get("/v1/models/dear").status_code == 404
    created = client.put(
        "/v1/models/dear",
        json={"input_usd_per_mtok": MAX_USD_PER_MTOK, "output_usd_per_mtok": MAX_USD_PER_MTOK},
    )
    assert created.status_code == 201, created.text
    client.put("/v1/policies/dear", json={"models": ["dear", "gpt-4o"]}).raise_for_status()
    assert client.post("/v1/route", json={"policy": "dear", "prompt": "x"}).status_code == 200


def test_model_features_that_cannot_become_an_arm_are_rejected(client: httpx.Client) -> None:
    # A declared feature of 1e308 was stored, then every route of the model's policies was a 500.
    body = {"input_usd_per_mtok": 1, "output_usd_per_mtok": 1, "features": {"ctx": 1e308}}
    _detail(client.put("/v1/models/overflowing", json=body), 422, "'ctx'", "32-bit float")
    assert client.get("/v1/models/overflowing").status_code == 404
    # Caller features of the same size are a 422 on the route, not a 500.
    routed = client.post("/v1/route", json={"features": {"x": 1e308}})
    _detail(routed, 422, "'x'")


@pytest.mark.parametrize(
    ("reward", "exploration", "fragment"),
    [
        ({"cost_weight": 1e308}, {}, "cost_weight"),
        ({"latency_weight": 1e9}, {}, "latency_weight"),
        ({"wait_seconds": 1e12}, {}, "wait_seconds"),
        ({"default_reward": 1e21}, {}, "default_reward"),
        ({"sources": {"judge": {"weight": 1e308}}}, {}, "weight"),
        ({"reward_range": [1.0, -1.0]}, {}, "reward_range"),
        ({"reward_range": [-1.0]}, {}, "reward_range"),
        ({"reward_range": [-1.0, 0.0], "default_reward": 0.5}, {}, "default_reward"),
        ({}, {"bits": 28}, "bits"),  # reserved 4 GB
        ({}, {"bits": MAX_BITS + 1}, "bits"),
    ],
)
def test_policy_settings_are_bounded(
    client: httpx.Client, reward: dict[str, Any], exploration: dict[str, Any], fragment: str
) -> None:
    body = {"models": ["gpt-4o"], "reward": reward, "exploration": exploration}
    _detail(client.put("/v1/policies/bounded", json=body), 422, fragment)
    assert client.get("/v1/policies/bounded").status_code == 404


def test_reward_range_is_stored_and_shown(client: httpx.Client) -> None:
    defaults = client.put("/v1/policies/ranged", json={"models": ["gpt-4o"]}).json()
    assert defaults["reward"]["reward_range"] == [-10.0, 10.0]
    body = {"models": ["gpt-4o"], "reward": {"reward_range": [-2.0, 1.0]}}
    assert client.put("/v1/policies/ranged", json=body).json()["reward"]["reward_range"] == [
        -2.0,
        1.0,
    ]


def test_the_bounds_are_in_the_openapi_document(client: httpx.Client) -> None:
    schemas = client.get("/schema/openapi.json").json()["components"]["schemas"]
    feedback = json.dumps(schemas["FeedbackIn"])
    assert f'"maximum": {MAX_COST_USD}' in feedback
    assert f'"maximum": {MAX_LATENCY_MS}' in feedback
    assert schemas["ExplorationIn"]["properties"]["bits"]["maximum"] == MAX_BITS
    assert f'"maximum": {MAX_USD_PER_MTOK}' in json.dumps(schemas["ModelIn"])


def test_policy_status_shows_learning_lag_and_quarantine(client: httpx.Client) -> None:
    learner = client.get("/v1/policies/default").json()["learner"]
    assert set(learner) >= {
        "learned_interactions",
        "lag",
        "quarantined",
        "last_quarantine_reason",
        "last_error",
    }
    assert learner["quarantined"] == 0
    assert learner["last_quarantine_reason"] is None
    assert learner["lag"] >= 0
    listed = {p["name"]: p for p in client.get("/v1/policies").json()}
    assert listed["default"]["learner"]["quarantined"] == 0


# --- Hypothesis: strict types and bounds at the boundary --------------------------------------

_numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)
_wrongly_typed: st.SearchStrategy[object] = st.sampled_from(
    ["0.5", "1", "true", "", None, [], {}, True]
)


def _post_json(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return client.request(method, path, content=json.dumps(body), headers=JSON)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    field=st.sampled_from(["cost_usd", "latency_ms", "score"]),
    value=_numbers | _wrongly_typed,
)
def test_feedback_numbers_are_accepted_exactly_within_their_bounds(
    client: httpx.Client, field: str, value: object
) -> None:
    decision_id = client.post("/v1/route", json={}).json()["decision_id"]
    response = _post_json(
        client, "POST", "/v1/feedback", {"decision_id": decision_id, field: value}
    )
    high = {"cost_usd": MAX_COST_USD, "latency_ms": MAX_LATENCY_MS, "score": 1.0}[field]
    valid = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= high
    assert response.status_code == (201 if valid else 422), (value, response.text)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(price=_numbers | _wrongly_typed, status=st.sampled_from(["active", "retired", 1, "x"]))
def test_model_bodies_are_accepted_exactly_when_valid(
    client: httpx.Client, price: object, status: object
) -> None:
    body = {"input_usd_per_mtok": price, "output_usd_per_mtok": 1.0, "status": status}
    response = _post_json(client, "PUT", "/v1/models/hypothesis-model", body)
    valid = (
        isinstance(price, int | float)
        and not isinstance(price, bool)
        and 0 <= price <= MAX_USD_PER_MTOK
        and status in ("active", "retired")
    )
    assert response.status_code in ((200, 201) if valid else (422,)), (body, response.text)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cost_weight=_numbers | _wrongly_typed,
    bits=st.sampled_from([9, 10, 18, 25, 28, "18", 18.0, True]),
    store_prompts=st.sampled_from([True, False, "true", 1, None]),
)
def test_policy_bodies_are_accepted_exactly_when_valid(
    client: httpx.Client, cost_weight: object, bits: object, store_prompts: object
) -> None:
    body = {
        "models": ["gpt-4o-mini"],
        "reward": {"cost_weight": cost_weight},
        "exploration": {"bits": bits},
        "store_prompts": store_prompts,
    }
    response = _post_json(client, "PUT", "/v1/policies/hypothesis-policy", body)
    valid = (
        isinstance(cost_weight, int | float)
        and not isinstance(cost_weight, bool)
        and 0 <= cost_weight <= 10_000
        and type(bits) is int
        and 10 <= bits <= MAX_BITS
        and isinstance(store_prompts, bool)
    )
    assert response.status_code in ((200, 201) if valid else (422,)), (body, response.text)


def _wait_for_learned(client: httpx.Client, policy: str, count: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        learner: dict[str, Any] = client.get(f"/v1/policies/{policy}").json()["learner"]
        if learner["learned_interactions"] >= count:
            return learner
        assert time.monotonic() < deadline, learner
        time.sleep(0.1)


def test_the_largest_accepted_cost_is_clipped_and_learning_goes_on(client: httpx.Client) -> None:
    # The measured defect: cost_usd 1e308 at cost_weight 25 gave reward -inf and stopped
    # learning. Now 1e308 is a 422 and the largest accepted cost gives the range's low end.
    body = {"models": ["gpt-4o", "gpt-4o-mini"], "reward": {"cost_weight": 25}}
    assert client.put("/v1/policies/costly", json=body).status_code == 201
    first = client.post("/v1/route", json={"policy": "costly"}).json()["decision_id"]
    _detail(
        client.post("/v1/feedback", json={"decision_id": first, "score": 1.0, "cost_usd": 1e308}),
        422,
        "cost_usd",
    )
    feedback = {"decision_id": first, "score": 1.0, "cost_usd": MAX_COST_USD}
    assert client.post("/v1/feedback", json=feedback).status_code == 201
    assert client.get(f"/v1/decisions/{first}").json()["reward"]["reward"] == -10.0
    second = client.post("/v1/route", json={"policy": "costly"}).json()["decision_id"]
    feedback = {"decision_id": second, "score": 0.5, "cost_usd": 0.001}
    assert client.post("/v1/feedback", json=feedback).status_code == 201

    learner = _wait_for_learned(client, "costly", 2)
    assert learner["quarantined"] == 0
    assert learner["last_error"] is None
    assert learner["lag"] == 0, learner
    # Routing still answers with a proper pmf.
    ranking = client.post("/v1/route", json={"policy": "costly"}).json()["ranking"]
    assert all(0.0 < r["probability"] < 1.0 for r in ranking)
