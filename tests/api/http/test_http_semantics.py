"""Issue 9's semantics over HTTP, on SQLite and PostgreSQL: failed calls are learned, and the
stored context does not give the prompt's words back."""

from __future__ import annotations

import hashlib
import re

import httpx


def _setup(client: httpx.Client, policy: str, reward: dict[str, object] | None = None) -> None:
    for model in (f"{policy}-a", f"{policy}-b"):
        response = client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
        )
        assert response.status_code in (200, 201), response.text
    body: dict[str, object] = {"models": [f"{policy}-a", f"{policy}-b"]}
    if reward is not None:
        body["reward"] = reward
    response = client.put(f"/v1/policies/{policy}", json=body)
    assert response.status_code in (200, 201), response.text


def test_error_only_feedback_joins_with_error_reward_at_wait_zero(client: httpx.Client) -> None:
    _setup(client, "sem-err", {"error_reward": -0.5, "cost_weight": 2.0})
    assert client.get("/v1/policies/sem-err").json()["reward"]["error_reward"] == -0.5
    decision = client.post("/v1/route", json={"policy": "sem-err", "prompt": "hi"}).json()
    sent = client.post(
        "/v1/feedback",
        json={
            "decision_id": decision["decision_id"],
            "source": "app",
            "error": "upstream timeout",
            "cost_usd": 0.25,
        },
    )
    assert sent.status_code == 201, sent.text
    stored = client.get(f"/v1/decisions/{decision['decision_id']}").json()
    assert stored["join_status"] == "joined"
    assert stored["reward"]["quality"] == -0.5
    assert stored["reward"]["reward"] == -1.0  # -0.5 - 2 * 0.25
    # The window is closed: a later score is stored as late and not learned.
    late = client.post(
        "/v1/feedback", json={"decision_id": decision["decision_id"], "score": 1.0}
    ).json()
    assert late["late"] is True


def test_an_error_does_not_close_a_timed_window_and_error_reward_defaults_to_zero(
    client: httpx.Client,
) -> None:
    _setup(client, "sem-both", {"wait_seconds": 3600})
    assert client.get("/v1/policies/sem-both").json()["reward"]["error_reward"] == 0.0
    decision = client.post("/v1/route", json={"policy": "sem-both"}).json()
    for body in ({"error": "retried once"}, {"score": 0.75}):
        sent = client.post("/v1/feedback", json={"decision_id": decision["decision_id"], **body})
        assert sent.status_code == 201, sent.text
    stored = client.get(f"/v1/decisions/{decision['decision_id']}").json()
    # wait_seconds 3600: neither feedback closes the window.
    assert stored["join_status"] == "open"


def test_error_reward_is_bounded(client: httpx.Client) -> None:
    _setup(client, "sem-bad")
    for value in (1.5, -2.0):
        response = client.put(
            "/v1/policies/sem-bad",
            json={"models": ["sem-bad-a"], "reward": {"error_reward": value}},
        )
        assert response.status_code == 422, (value, response.text)


def test_stored_words_are_keyed_and_unordered(client: httpx.Client) -> None:
    _setup(client, "sem-words")
    prompt = "please email alice at example com about zqxcanary7731"
    decision = client.post("/v1/route", json={"policy": "sem-words", "prompt": prompt}).json()
    stored = client.get(f"/v1/decisions/{decision['decision_id']}").json()
    names = list(stored["context"]["words"])
    assert len(names) == len(prompt.split())
    assert all(re.fullmatch(r"[0-9a-f]{8}", name) for name in names)
    assert names == sorted(names)
    # What the old, unkeyed feature would have stored: none of it may appear anywhere.
    unkeyed = [hashlib.blake2b(w.encode(), digest_size=4).hexdigest() for w in prompt.split()]
    text = client.get(f"/v1/decisions/{decision['decision_id']}").text
    assert not [digest for digest in unkeyed if digest in text]
    assert "zqxcanary7731" not in text
    client.post("/v1/feedback", json={"decision_id": decision["decision_id"], "score": 0.5})
    for path in (
        "/v1/policies/sem-words/export?format=jsonl",
        "/v1/policies/sem-words/export?format=dsjson",
        "/v1/policies/sem-words/drift",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert not [digest for digest in unkeyed if digest in response.text], path
        assert "zqxcanary7731" not in response.text
        if "export" in path:  # the words are there, under their keyed names
            assert all(name in response.text for name in names), path
    # The same prompt maps to the same features within this installation.
    again = client.post("/v1/route", json={"policy": "sem-words", "prompt": prompt}).json()
    stored_again = client.get(f"/v1/decisions/{again['decision_id']}").json()
    assert list(stored_again["context"]["words"]) == names


def test_retention_days_is_off_by_default_settable_and_bounded(client: httpx.Client) -> None:
    _setup(client, "sem-ret")
    assert client.get("/v1/policies/sem-ret").json()["retention_days"] is None
    body = {"models": ["sem-ret-a"], "retention_days": 30}
    response = client.put("/v1/policies/sem-ret", json=body)
    assert response.status_code == 200, response.text
    assert client.get("/v1/policies/sem-ret").json()["retention_days"] == 30
    for value in (0, 3651, 1.5):
        response = client.put(
            "/v1/policies/sem-ret", json={"models": ["sem-ret-a"], "retention_days": value}
        )
        assert response.status_code == 422, (value, response.text)


def test_the_split_check_counts_units_and_errors_reach_the_arms(client: httpx.Client) -> None:
    _setup(client, "sem-exp")
    client.put("/v1/models/sem-exp-new", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2})
    created = client.post("/v1/experiments", json={"policy": "sem-exp", "candidate": "sem-exp-new"})
    assert created.status_code == 201, created.text
    experiment_id = created.json()["id"]
    # 12 users with 5 decisions each, and 4 decisions without a unit (each its own unit).
    routed = [
        client.post("/v1/route", json={"policy": "sem-exp", "unit_id": f"user-{i % 12}"}).json()
        for i in range(60)
    ] + [client.post("/v1/route", json={"policy": "sem-exp"}).json() for _ in range(4)]
    for r in routed:
        sent = client.post("/v1/feedback", json={"decision_id": r["decision_id"], "error": "boom"})
        assert sent.status_code == 201, sent.text
    shown = client.get(f"/v1/experiments/{experiment_id}").json()
    counts = shown["stage_counts"]
    assert counts["units_candidate"] + counts["units_control"] == 16
    arms = [r["experiment"]["arm"] for r in routed[:12]]
    assert counts["units_candidate"] == arms.count("candidate") + sum(
        r["experiment"]["arm"] == "candidate" for r in routed[60:]
    )
    # Every call failed and nobody scored one: all joined, all errors.
    feedback = shown["arms"]["candidate"]["feedback"] + shown["arms"]["control"]["feedback"]
    assert feedback == 64
    for arm in ("candidate", "control"):
        if shown["arms"][arm]["feedback"]:
            assert shown["arms"][arm]["error_rate"] == 1.0
