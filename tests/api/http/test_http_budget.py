"""A budgeted policy over HTTP on the real server, both backends."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

#: gpt-4o's example prices (2.5 and 10 USD per million tokens) for the estimate's request of
#: 1,000 input and 300 output tokens: no call to gpt-4o has reported a cost yet.
GPT_4O_ESTIMATE = (2.5 * 1000 + 10.0 * 300) / 1e6


def _detail(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.endswith("."), detail
    for fragment in fragments:
        assert fragment in detail, detail


def _policy(client: httpx.Client, name: str, learned: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        body: dict[str, Any] = client.get(f"/v1/policies/{name}").json()
        if body["learner"]["learned_interactions"] >= learned or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("budget", "extra", "fragments"),
    [
        ({"cost_share": 0.2, "reference": "gpt-4o"}, {"cost_weight": 25}, ["not both", "25"]),
        ({"cost_share": 0.2, "reference": "ghost"}, {}, ["'ghost'", "not registered"]),
        ({"cost_share": 0.2}, {}, ["reference model"]),
        ({"usd_per_request": 0.001, "cost_share": 0.2}, {}, ["not both"]),
        ({"usd_per_request": -1}, {}, ["usd_per_request"]),
    ],
)
def test_a_bad_budget_is_a_422_sentence(
    client: httpx.Client, budget: dict[str, Any], extra: dict[str, Any], fragments: list[str]
) -> None:
    body = {"models": ["gpt-4o", "gpt-4o-mini"], "budget": budget, "reward": extra}
    _detail(client.put("/v1/policies/bad-budget", json=body), 422, *fragments)


def test_a_budgeted_policy_reports_its_controller(client: httpx.Client) -> None:
    put = client.put(
        "/v1/policies/budgeted",
        json={
            "models": ["gpt-4o", "gpt-4o-mini"],
            "budget": {"cost_share": 0.2, "reference": "gpt-4o"},
        },
    )
    assert put.status_code in (200, 201), put.text
    budget = put.json()["budget"]
    target = 0.2 * GPT_4O_ESTIMATE
    assert budget["target_usd_per_request"] == pytest.approx(target)
    assert (budget["cost_share"], budget["reference"]) == (0.2, "gpt-4o")
    assert budget["observed_calls"] == 0
    assert budget["mean_spend_usd"] is None
    start = budget["cost_weight"]
    assert start > 0

    # Every call costs ten times the budget: the controller raises the cost weight.
    for i in range(5):
        routed = client.post("/v1/route", json={"policy": "budgeted", "prompt": f"q{i}"}).json()
        feedback = {"decision_id": routed["decision_id"], "score": 1.0, "cost_usd": 10 * target}
        assert client.post("/v1/feedback", json=feedback).status_code == 201
    after = _policy(client, "budgeted", 5)["budget"]
    assert after["observed_calls"] == 5
    assert after["mean_spend_usd"] == pytest.approx(10 * target)
    assert after["cost_weight"] > start
    # A plain policy shows no budget.
    assert client.get("/v1/policies/default").json()["budget"] is None
