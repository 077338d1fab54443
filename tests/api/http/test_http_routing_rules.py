"""Routing rules over HTTP on SQLite and PostgreSQL: constraints per request, per policy and per
key; the 422 that names each exclusion; fallbacks and fallback chains; what a decision logs."""

from __future__ import annotations

import time

import httpx

MODELS = {
    # id: (input $/M, output $/M, features)
    "rr-eu-small": (0.2, 0.6, {"region": "eu", "context_window": 8000}),
    "rr-eu-large": (10.0, 30.0, {"region": "eu", "context_window": 128000}),
    "rr-us-large": (10.0, 30.0, {"region": "us", "context_window": 128000}),
}


def _setup(client: httpx.Client, policy: str, **extra: object) -> None:
    for model, (price_in, price_out, features) in MODELS.items():
        response = client.put(
            f"/v1/models/{model}",
            json={
                "input_usd_per_mtok": price_in,
                "output_usd_per_mtok": price_out,
                "features": features,
            },
        )
        assert response.status_code in (200, 201), response.text
    response = client.put(f"/v1/policies/{policy}", json={"models": list(MODELS), **extra})
    assert response.status_code in (200, 201), response.text


def test_required_tags_limit_the_choice_and_exploration_to_eligible_models(
    client: httpx.Client,
) -> None:
    _setup(client, "rr-tags")
    chosen = set()
    for index in range(30):
        routed = client.post(
            "/v1/route",
            json={"policy": "rr-tags", "prompt": f"q {index}", "require": {"region": "eu"}},
        )
        assert routed.status_code == 200, routed.text
        body = routed.json()
        chosen.add(body["model"])
        assert {r["model"] for r in body["ranking"]} == {"rr-eu-small", "rr-eu-large"}
        assert abs(sum(r["probability"] for r in body["ranking"]) - 1.0) < 1e-9
        assert body["fallbacks"] == [
            m for m in ("rr-eu-small", "rr-eu-large") if m != body["model"]
        ]
        assert list(body["excluded"]) == ["rr-us-large"]
    assert chosen <= {"rr-eu-small", "rr-eu-large"}
    stored = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert stored["candidates"] == ["rr-eu-small", "rr-eu-large"]
    assert stored["routing"]["constraints"] == {"require": {"region": "eu"}}
    assert (
        "requires region='eu', but the model has 'us'"
        in (stored["routing"]["excluded"]["rr-us-large"])
    )


def test_no_eligible_model_is_a_422_naming_each_models_constraint(client: httpx.Client) -> None:
    _setup(client, "rr-none")
    refused = client.post(
        "/v1/route",
        json={
            "policy": "rr-none",
            "prompt": "x " * 20000,  # ~26,000 tokens: over the small model's window
            "require": {"region": "eu"},
            "max_cost_usd": 0.01,
        },
    )
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert detail.startswith("No model of policy 'rr-none' is eligible for this request.")
    assert "rr-eu-small: the prompt's estimated 26,000 tokens exceed its context window" in detail
    assert "rr-eu-large: estimated cost $0.275 exceeds max_cost_usd $0.01." in detail
    assert "rr-us-large: requires region='eu'" in detail


def test_policy_constraints_apply_to_every_request_and_a_request_only_tightens_them(
    client: httpx.Client,
) -> None:
    _setup(client, "rr-policy", constraints={"max_cost_usd": 0.005})
    assert client.get("/v1/policies/rr-policy").json()["constraints"] == {
        "max_cost_usd": 0.005,
        "max_latency_ms": None,
        "require": {},
    }
    for ask in (None, 1.0):
        body: dict[str, object] = {"policy": "rr-policy", "prompt": "short"}
        if ask is not None:
            body["max_cost_usd"] = ask
        routed = client.post("/v1/route", json=body).json()
        # The large models' estimated $0.015 is over the policy's cap, whatever was asked.
        assert routed["model"] == "rr-eu-small"
        assert sorted(routed["excluded"]) == ["rr-eu-large", "rr-us-large"]
        assert routed["fallbacks"] == []
    conflict = client.put(
        "/v1/policies/rr-policy",
        json={"models": list(MODELS), "constraints": {"max_cost_usd": -1}},
    )
    assert conflict.status_code == 422


def test_a_keys_model_allow_list_limits_its_requests(client: httpx.Client) -> None:
    _setup(client, "rr-key")
    created = client.post(
        "/v1/keys",
        json={
            "name": "tenant-eu",
            "scopes": ["route", "read"],
            "policies": ["rr-key"],
            "models": ["rr-eu-small"],
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["models"] == ["rr-eu-small"]
    with httpx.Client(
        base_url=str(client.base_url),
        headers={"authorization": f"Bearer {created.json()['key']}"},
    ) as tenant:
        for index in range(5):
            routed = tenant.post("/v1/route", json={"policy": "rr-key", "prompt": f"p{index}"})
            assert routed.status_code == 200, routed.text
            assert routed.json()["model"] == "rr-eu-small"
        refused = tenant.post(
            "/v1/route",
            json={"policy": "rr-key", "prompt": "p", "require": {"region": "us"}},
        )
        assert refused.status_code == 422
        assert "rr-us-large: not in the models this API key may use." in refused.json()["detail"]
    unknown = client.post(
        "/v1/keys", json={"name": "bad", "scopes": ["route"], "models": ["no-such-model"]}
    )
    assert unknown.status_code == 422
    assert "no-such-model" in unknown.json()["detail"]


def test_a_fallback_chain_tries_each_model_once_and_is_its_own_decision(
    client: httpx.Client,
) -> None:
    _setup(client, "rr-chain")
    first = client.post("/v1/route", json={"policy": "rr-chain", "prompt": "hello"}).json()
    tried = [first["model"]]
    parent = first["decision_id"]
    for _ in range(2):
        client.post(
            "/v1/feedback",
            json={"decision_id": parent, "error": "429 rate limited", "source": "app"},
        )
        retry = client.post(
            "/v1/route", json={"policy": "rr-chain", "prompt": "hello", "fallback_of": parent}
        )
        assert retry.status_code == 200, retry.text
        body = retry.json()
        assert body["fallback_of"] == parent
        assert body["model"] not in tried
        assert set(body["excluded"]) == set(tried)
        tried.append(body["model"])
        parent = body["decision_id"]
    assert sorted(tried) == sorted(MODELS)
    stored = client.get(f"/v1/decisions/{parent}").json()
    assert stored["fallback_of"] == body["fallback_of"]
    assert stored["routing"]["tried"] == tried[:2]
    exhausted = client.post(
        "/v1/route", json={"policy": "rr-chain", "prompt": "hello", "fallback_of": parent}
    )
    assert exhausted.status_code == 422
    assert "already tried for this request" in exhausted.json()["detail"]
    missing = client.post(
        "/v1/route", json={"policy": "rr-chain", "prompt": "hi", "fallback_of": "no-such"}
    )
    assert missing.status_code == 404
    assert "'no-such' (fallback_of) does not exist" in missing.json()["detail"]


def test_a_retry_with_the_same_decision_id_but_other_constraints_is_a_conflict(
    client: httpx.Client,
) -> None:
    _setup(client, "rr-retry")
    body = {"policy": "rr-retry", "prompt": "x", "decision_id": "rr-retry-1"}
    first = client.post("/v1/route", json=body).json()
    again = client.post("/v1/route", json=body).json()
    assert again["fallbacks"] == first["fallbacks"]
    assert again["model"] == first["model"]
    other = client.post("/v1/route", json={**body, "max_cost_usd": 0.5})
    assert other.status_code == 409


def test_a_model_cooling_down_after_errors_is_not_routed_to_until_it_is_re_admitted(
    client: httpx.Client,
) -> None:
    health = {"window_seconds": 60, "min_calls": 3, "max_error_rate": 0.5, "cooldown_seconds": 3}
    _setup(client, "rr-health", health=health)
    for _ in range(3):
        failed = client.post(
            "/v1/route", json={"policy": "rr-health", "candidates": ["rr-us-large"]}
        ).json()
        client.post(
            "/v1/feedback",
            json={"decision_id": failed["decision_id"], "error": "HTTP 503", "source": "app"},
        )
    deadline = time.monotonic() + 10
    while True:
        routed = client.post("/v1/route", json={"policy": "rr-health", "prompt": "hi"}).json()
        if "rr-us-large" in routed["excluded"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "rr-us-large is cooling down until" in routed["excluded"]["rr-us-large"]
    for _ in range(10):
        routed = client.post("/v1/route", json={"policy": "rr-health", "prompt": "hi"}).json()
        assert routed["model"] != "rr-us-large"
        assert "rr-us-large" not in routed["fallbacks"]
    # Asked for it alone, the cooling model is still served: refusing every request would be
    # worse than a model that may have recovered (and the decision says so).
    alone = client.post(
        "/v1/route", json={"policy": "rr-health", "candidates": ["rr-us-large"]}
    ).json()
    assert alone["model"] == "rr-us-large"
    assert client.get(f"/v1/decisions/{alone['decision_id']}").json()["routing"][
        "cooldowns_ignored"
    ]
    deadline = time.monotonic() + 15
    while "rr-us-large" in routed["excluded"] and time.monotonic() < deadline:
        time.sleep(0.3)
        routed = client.post("/v1/route", json={"policy": "rr-health", "prompt": "hi"}).json()
    assert routed["excluded"] == {}
