"""Cascades over HTTP on SQLite and PostgreSQL: a policy's routes start at its cheap models; an
escalation question is its own logged decision (accept or a stronger model) of the policy that
learns escalations, whose reward pays for every call; it learns to escalate when that pays."""

from __future__ import annotations

import time

import httpx

MODELS = {"cc-cheap": (0.1, 0.2), "cc-probe": (0.1, 0.2), "cc-strong": (10.0, 30.0)}


def _wait_learned(client: httpx.Client, policy: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        learner = client.get(f"/v1/policies/{policy}").json()["learner"]
        if learner["learned_interactions"] >= count and learner["lag"] == 0:
            return
        assert time.monotonic() < deadline, learner
        time.sleep(0.2)


def _setup(client: httpx.Client, policy: str, **reward: object) -> None:
    for model, (price_in, price_out) in MODELS.items():
        response = client.put(
            f"/v1/models/{model}",
            json={"input_usd_per_mtok": price_in, "output_usd_per_mtok": price_out},
        )
        assert response.status_code in (200, 201), response.text
    response = client.put(
        f"/v1/policies/{policy}",
        json={
            "models": list(MODELS),
            "reward": {"cost_weight": 10.0, **reward},
            "exploration": {"algorithm": "epsilon", "epsilon": 0.2, "learning_rate": 0.5},
            "cascade": {"first": ["cc-cheap"], "escalate": ["cc-strong"], "probe": "cc-probe"},
        },
    )
    assert response.status_code in (200, 201), response.text


def test_a_cascade_policy_gets_its_escalation_policy_and_routes_to_its_first_stage(
    client: httpx.Client,
) -> None:
    _setup(client, "cc-shape")
    companion = client.get("/v1/policies/cc-shape.escalation").json()
    assert companion["escalation_for"] == "cc-shape"
    assert companion["models"] == ["cc-strong"]
    assert client.get("/v1/policies/cc-shape").json()["cascade"] == {
        "first": ["cc-cheap"],
        "escalate": ["cc-strong"],
        "probe": "cc-probe",
        "judge": None,
    }
    first = client.post("/v1/route", json={"policy": "cc-shape", "prompt": "2+2?"}).json()
    assert first["model"] == "cc-cheap"
    assert first["probability"] == 1.0
    assert first["cascade"] == {
        "stage": "first",
        "escalation_policy": "cc-shape.escalation",
        "probe": "cc-probe",
        "escalation_of": None,
    }
    # The escalation policy is only asked through escalate, and changes only via the cascade.
    direct = client.post("/v1/route", json={"policy": "cc-shape.escalation", "prompt": "x"})
    assert direct.status_code == 422
    assert "learns the escalations of policy 'cc-shape'" in direct.json()["detail"]
    edit = client.put("/v1/policies/cc-shape.escalation", json={"models": ["cc-strong"]})
    assert edit.status_code == 409


def test_an_escalation_is_a_decision_whose_reward_pays_for_every_call(
    client: httpx.Client,
) -> None:
    _setup(client, "cc-pay")
    first = client.post("/v1/route", json={"policy": "cc-pay", "prompt": "Which is it?"}).json()
    asked = client.post(
        "/v1/route",
        json={
            "policy": "cc-pay",
            "escalate": {
                "from": first["decision_id"],
                "signals": {"answer": "The answer is (B).", "probe_answer": "Answer: C"},
                "cost_usd": 0.002,
            },
        },
    )
    assert asked.status_code == 200, asked.text
    escalation = asked.json()
    assert escalation["policy"] == "cc-pay.escalation"
    assert escalation["model"] in ("accept", "cc-strong")
    assert {r["model"] for r in escalation["ranking"]} == {"accept", "cc-strong"}
    assert escalation["cascade"]["stage"] == "escalation"
    assert escalation["cascade"]["escalation_of"] == first["decision_id"]
    stored = client.get(f"/v1/decisions/{escalation['decision_id']}").json()
    assert stored["escalation_of"] == first["decision_id"]
    assert stored["prior_cost_usd"] == 0.002
    # The answers became features; neither text is stored.
    assert stored["context"]["signals"]["agree=false"] == 1.0
    assert "answer" not in str(stored["context"]).lower().replace("answer_", "")
    sent = client.post(
        "/v1/feedback",
        json={"decision_id": escalation["decision_id"], "score": 1.0, "cost_usd": 0.01},
    )
    assert sent.status_code == 201, sent.text
    joined = client.get(f"/v1/decisions/{escalation['decision_id']}").json()["reward"]
    assert joined["cost_usd"] == 0.012
    assert abs(joined["reward"] - (1.0 - 10.0 * 0.012)) < 1e-9


def test_bad_escalations_are_refused_with_a_sentence(client: httpx.Client) -> None:
    _setup(client, "cc-bad")
    client.put("/v1/policies/cc-plain", json={"models": ["cc-cheap", "cc-strong"]})
    first = client.post("/v1/route", json={"policy": "cc-bad", "prompt": "q"}).json()
    cases = [
        ({"policy": "cc-plain", "escalate": {"from": first["decision_id"]}}, 422, "no cascade"),
        ({"policy": "cc-bad", "escalate": {"from": "nope"}}, 404, "is not a decision"),
        (
            {"policy": "cc-bad", "prompt": "x", "escalate": {"from": first["decision_id"]}},
            422,
            "send no prompt",
        ),
        (
            {
                "policy": "cc-bad",
                "escalate": {"from": first["decision_id"], "signals": {"judge_score": 2}},
            },
            422,
            "judge_score",
        ),
    ]
    for body, status, words in cases:
        refused = client.post("/v1/route", json=body)
        assert refused.status_code == status, (body, refused.text)
        assert words in refused.json()["detail"], refused.text


def test_the_escalation_policy_learns_to_escalate_only_when_the_answers_disagree(
    client: httpx.Client,
) -> None:
    """Disagreeing cheap answers are wrong (quality 0), agreeing ones right: escalating on
    disagreement pays (1 - 10 * 0.041 against 0), on agreement it only costs (0.59 against
    0.99)."""
    _setup(client, "cc-learn")
    for index in range(160):
        agree = index % 2 == 0
        first = client.post(
            "/v1/route", json={"policy": "cc-learn", "prompt": f"question {index}"}
        ).json()
        asked = client.post(
            "/v1/route",
            json={
                "policy": "cc-learn",
                "escalate": {
                    "from": first["decision_id"],
                    "signals": {"agree": agree},
                    "cost_usd": 0.001,
                },
            },
        ).json()
        escalated = asked["model"] == "cc-strong"
        score = 1.0 if (escalated or agree) else 0.0
        client.post(
            "/v1/feedback",
            json={
                "decision_id": asked["decision_id"],
                "score": score,
                "cost_usd": 0.04 if escalated else 0.0,
            },
        )
    _wait_learned(client, "cc-learn.escalation", 160)
    shares = {}
    for agree in (True, False):
        picks = []
        for index in range(40):
            first = client.post(
                "/v1/route", json={"policy": "cc-learn", "prompt": f"probe {agree} {index}"}
            ).json()
            picks.append(
                client.post(
                    "/v1/route",
                    json={
                        "policy": "cc-learn",
                        "escalate": {"from": first["decision_id"], "signals": {"agree": agree}},
                    },
                ).json()["model"]
            )
        shares[agree] = picks.count("cc-strong") / len(picks)
    assert shares[False] > 0.7, shares
    assert shares[True] < 0.3, shares


def test_a_cascade_needs_room_for_its_escalation_policys_name(client: httpx.Client) -> None:
    _setup(client, "cc-room")
    name = "c" * 120
    body = client.get("/v1/policies/cc-room").json()
    refused = client.put(
        f"/v1/policies/{name}",
        json={"models": body["models"], "cascade": body["cascade"]},
    )
    assert refused.status_code == 422
    assert "too long for a cascade" in refused.json()["detail"]
    assert client.get(f"/v1/policies/{name}").status_code == 404


def test_the_first_answer_is_kept_only_where_the_policy_stores_prompts(
    client: httpx.Client,
) -> None:
    for policy, stores in (("cc-keep", True), ("cc-drop", False)):
        _setup(client, policy)
        body = client.get(f"/v1/policies/{policy}").json()
        put = client.put(
            f"/v1/policies/{policy}",
            json={"models": body["models"], "cascade": body["cascade"], "store_prompts": stores},
        )
        assert put.status_code == 200, put.text
        first = client.post("/v1/route", json={"policy": policy, "prompt": "q"}).json()
        asked = client.post(
            "/v1/route",
            json={
                "policy": policy,
                "escalate": {"from": first["decision_id"], "signals": {"answer": "It is 4."}},
            },
        )
        assert asked.status_code == 200, asked.text
        stored = client.get(f"/v1/decisions/{first['decision_id']}").json()
        assert stored["response"] == ("It is 4." if stores else None)
        escalation = client.get(f"/v1/decisions/{asked.json()['decision_id']}").json()
        assert escalation["prompt"] is None
        assert escalation["response"] is None
