"""Undo over HTTP on the real server, both backends: versions, rollback, void."""

from __future__ import annotations

import time

import httpx


def _learned(client: httpx.Client, at_least: int) -> dict[str, int]:
    deadline = time.monotonic() + 30
    while True:
        learner = client.get("/v1/policies/default").json()["learner"]
        if learner["learned_interactions"] >= at_least or time.monotonic() > deadline:
            return dict(learner)
        time.sleep(0.05)


def test_versions_void_and_rollback(client: httpx.Client) -> None:
    listed = client.get("/v1/policies/default/versions")
    assert listed.status_code == 200, listed.text
    start = listed.json()
    assert start["policy"] == "default"
    assert start["versions"], "the revision that went live was stored as a version"
    earliest = start["versions"][-1]
    assert set(earliest) == {
        "version",
        "revision",
        "learned_count",
        "high_water_mark",
        "created_at",
    }
    learned_before = _learned(client, 0)["learned_interactions"]

    feedback_ids = []
    decision_ids = []
    for i in range(30):
        routed = client.post("/v1/route", json={"prompt": f"question {i}"}).json()
        sent = client.post(
            "/v1/feedback",
            json={"decision_id": routed["decision_id"], "score": 0.9, "source": "judge"},
        )
        assert sent.status_code == 201, sent.text
        feedback_ids.append(sent.json()["feedback_id"])
        decision_ids.append(routed["decision_id"])
    _learned(client, learned_before + 30)
    version = client.get("/v1/policies/default").json()["version"]

    voided = client.post(f"/v1/feedback/{feedback_ids[0]}/void", json={"reason": "broken judge"})
    assert voided.status_code == 200, voided.text
    body = voided.json()
    assert body["rebuilt"] is True
    assert body["version"] > version
    assert body["feedback"]["void_reason"] == "broken judge"
    again = client.post(f"/v1/feedback/{feedback_ids[0]}/void", json={"reason": "again"})
    assert again.status_code == 200
    assert again.json()["rebuilt"] is False
    assert again.json()["feedback"]["void_reason"] == "broken judge"
    decision = client.get(f"/v1/decisions/{decision_ids[0]}").json()
    assert decision["join_status"] == "skipped"
    assert decision["feedback"][0]["void_reason"] == "broken judge"

    live = client.get("/v1/policies/default").json()["version"]
    rolled = client.post("/v1/policies/default/rollback", json={"version": earliest["version"]})
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["version"] > live
    assert rolled.json()["learned_count"] == earliest["learned_count"]
    after = client.get("/v1/policies/default").json()
    assert after["version"] == rolled.json()["version"]
    assert after["learner"]["learned_interactions"] == earliest["learned_count"]
    newest = client.get("/v1/policies/default/versions").json()["versions"][0]
    assert newest["version"] == rolled.json()["version"]


def test_undo_errors_are_sentences(client: httpx.Client) -> None:
    unknown = client.post("/v1/policies/default/rollback", json={"version": 999_999})
    assert unknown.status_code == 404
    assert "999999" in unknown.json()["detail"]
    assert client.post("/v1/policies/nope/rollback", json={"version": 1}).status_code == 404
    assert client.get("/v1/policies/nope/versions").status_code == 404
    missing = client.post("/v1/feedback/nope/void", json={"reason": "x"})
    assert missing.status_code == 404
    assert "'nope'" in missing.json()["detail"]
    bad_voids: list[dict[str, object]] = [
        {},
        {"reason": ""},
        {"reason": 1},
        {"reason": "x", "extra": 1},
    ]
    for body in bad_voids:
        answer = client.post("/v1/feedback/nope/void", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        assert answer.status_code != 404, body
    bad_rollbacks: list[dict[str, object]] = [{"version": -1}, {"version": 1.5}, {}]
    for body in bad_rollbacks:
        answer = client.post("/v1/policies/default/rollback", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        assert answer.status_code != 404, body
