"""Model health over HTTP against the real server, on SQLite and PostgreSQL: errors reported
through POST /v1/feedback cool a model, the policy status says why and until when, and the
model comes back by itself."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

HEALTH = {"window_seconds": 60, "min_calls": 3, "max_error_rate": 0.5, "cooldown_seconds": 2}


def _models(client: httpx.Client) -> None:
    for model in ("h-fast", "h-slow"):
        put = client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
        )
        assert put.status_code in (200, 201), put.text


def _setup(client: httpx.Client, policy: str) -> None:
    _models(client)
    put = client.put(
        f"/v1/policies/{policy}", json={"models": ["h-fast", "h-slow"], "health": HEALTH}
    )
    assert put.status_code == 201, put.text
    assert put.json()["health"] == HEALTH
    assert put.json()["cooldowns"] == []


def _cooldowns_once(
    client: httpx.Client, policy: str, *, present: bool, seconds: float
) -> list[dict[str, Any]]:
    """Poll the policy status until it shows cooldowns (or none), for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(f"/v1/policies/{policy}")
        assert response.status_code == 200, response.text
        cooldowns: list[dict[str, Any]] = response.json()["cooldowns"]
        if bool(cooldowns) == present or time.monotonic() > deadline:
            return cooldowns
        time.sleep(0.1)


def test_errors_reported_as_feedback_cool_a_model_until_it_is_re_admitted(
    client: httpx.Client,
) -> None:
    _setup(client, "health-cooldown")
    routed = []
    for error in ("429 rate limited", "HTTP 503 from provider", "429 rate limited"):
        decision = client.post(
            "/v1/route", json={"policy": "health-cooldown", "candidates": ["h-fast"]}
        ).json()
        routed.append(decision["decision_id"])
        stored = client.post(
            "/v1/feedback",
            json={"decision_id": decision["decision_id"], "source": "app", "error": error},
        )
        assert stored.status_code == 201, stored.text
    # A judge's score on a failed call does not count as a second call.
    scored = client.post(
        "/v1/feedback", json={"decision_id": routed[0], "source": "judge", "score": 0.1}
    )
    assert scored.status_code == 201, scored.text

    [cooldown] = _cooldowns_once(client, "health-cooldown", present=True, seconds=10)
    assert cooldown["model"] == "h-fast"
    assert cooldown["until"] - cooldown["since"] == pytest.approx(2.0)
    assert cooldown["reason"].startswith("h-fast is cooling down until ")
    assert cooldown["reason"].endswith(
        ": 3 of 3 calls in the last 60 s failed (last: '429 rate limited')."
    )

    # Re-admitted by itself once the cooldown has passed (the server's clock is this one's).
    assert _cooldowns_once(client, "health-cooldown", present=False, seconds=10) == []
    assert time.time() >= cooldown["until"]
    # The failures that cooled it do not cool it again: only a fresh window could. Two more
    # refreshes of the server's (one-second) loop pass with the model still admitted.
    time.sleep(2.5)
    assert client.get("/v1/policies/health-cooldown").json()["cooldowns"] == []


def test_feedback_reports_tokens(client: httpx.Client) -> None:
    _setup(client, "health-tokens")
    decision_id = client.post(
        "/v1/route", json={"policy": "health-tokens", "candidates": ["h-slow"]}
    ).json()["decision_id"]
    body = {"decision_id": decision_id, "source": "app", "input_tokens": 1200}
    stored = client.post("/v1/feedback", json={**body, "output_tokens": 340, "latency_ms": 90})
    assert stored.status_code == 201, stored.text
    assert (stored.json()["input_tokens"], stored.json()["output_tokens"]) == (1200, 340)
    decision = client.get(f"/v1/decisions/{decision_id}").json()
    assert decision["feedback"][0]["output_tokens"] == 340
    for bad in (-1, 10_000_001, 1.5, "12", True):
        rejected = client.post("/v1/feedback", json={**body, "output_tokens": bad})
        assert rejected.status_code in (400, 422), rejected.text
        assert "output_tokens" in rejected.json()["detail"]


@pytest.mark.parametrize(
    ("health", "fragment"),
    [
        ({"min_calls": 0}, "min_calls"),
        ({"max_error_rate": 1.5}, "max_error_rate"),
        ({"cooldown_seconds": 0}, "cooldown_seconds"),
        ({"window_seconds": 86_401}, "window_seconds"),
        ({"cooldown": 5}, "cooldown"),
    ],
)
def test_health_settings_are_validated(
    client: httpx.Client, health: dict[str, Any], fragment: str
) -> None:
    _models(client)
    response = client.put("/v1/policies/health-bad", json={"models": ["h-fast"], "health": health})
    assert response.status_code in (400, 422), response.text
    assert fragment in response.json()["detail"]
