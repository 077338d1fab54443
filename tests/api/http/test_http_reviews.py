"""Reviews over HTTP on the real server, both backends: sampling, queue, posted answers."""

from __future__ import annotations

import json

import httpx
import pytest

from bandit.review import review_draw


def _policy(client: httpx.Client, name: str, **settings: object) -> None:
    for model in ("rv-a", "rv-b"):
        client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
        ).raise_for_status()
    put = client.put(f"/v1/policies/{name}", json={"models": ["rv-a", "rv-b"], **settings})
    assert put.status_code in (200, 201), put.text


def test_review_setting_is_validated_and_returned(client: httpx.Client) -> None:
    bad = client.put("/v1/policies/rv-bad", json={"models": ["rv-a"], "review": {"rate": 1.5}})
    assert bad.status_code == 422
    uniform_with_rates = client.put(
        "/v1/policies/rv-bad",
        json={"models": ["rv-a"], "review": {"rate": 0.1, "per_model": {"rv-a": 0.5}}},
    )
    assert uniform_with_rates.status_code == 422
    assert "stratified" in uniform_with_rates.json()["detail"]
    _policy(client, "rv-off")
    assert client.get("/v1/policies/rv-off").json()["review"] == {
        "rate": 0.0,
        "design": "uniform",
        "per_model": {},
    }


def test_stratified_sample_marks_decisions_with_their_probability(client: httpx.Client) -> None:
    review = {"rate": 0.0, "design": "stratified", "per_model": {"rv-a": 1.0, "rv-b": 0.3}}
    _policy(client, "rv-strat", review=review)
    assert client.get("/v1/policies/rv-strat").json()["review"] == review
    sampled = {}
    for i in range(60):
        routed = client.post(
            "/v1/route", json={"policy": "rv-strat", "decision_id": f"rv-strat-{i}"}
        ).json()
        decision = client.get(f"/v1/decisions/{routed['decision_id']}").json()
        expected_p = review["per_model"][decision["model"]]  # type: ignore[index]
        # The draw is the decision id's hash: the same on every process and replay.
        if review_draw(decision["decision_id"]) < expected_p:
            assert decision["review_probability"] == expected_p
            sampled[decision["decision_id"]] = decision["model"]
        else:
            assert decision["review_probability"] is None
    queue = client.get("/v1/review/queue", params={"policy": "rv-strat", "limit": 500})
    assert queue.status_code == 200, queue.text
    items = queue.json()["items"]
    assert {item["decision_id"]: item["model"] for item in items} == sampled
    assert 0 < len(sampled) < 60
    assert all(item["prompt"] is None and item["response"] is None for item in items)

    first = items[0]["decision_id"]
    scored = client.post(
        "/v1/feedback",
        json={
            "decision_id": first,
            "stars": 4,
            "source": "reviewer",
            "reviewer": "ana",
            "comment": "Correct, a bit long.",
        },
    )
    assert scored.status_code == 201, scored.text
    assert scored.json()["reviewer"] == "ana"
    assert scored.json()["comment"] == "Correct, a bit long."
    left = client.get("/v1/review/queue", params={"policy": "rv-strat", "limit": 500}).json()
    assert first not in {item["decision_id"] for item in left["items"]}
    # Another reviewer still sees it, with the count of reviews it has.
    for_ben = client.get(
        "/v1/review/queue", params={"policy": "rv-strat", "reviewer": "ben", "limit": 500}
    ).json()["items"]
    assert [item["reviews"] for item in for_ben if item["decision_id"] == first] == [1]
    for_ana = client.get(
        "/v1/review/queue", params={"policy": "rv-strat", "reviewer": "ana", "limit": 500}
    ).json()["items"]
    assert first not in {item["decision_id"] for item in for_ana}


def test_queue_needs_a_known_policy_and_a_sane_limit(client: httpx.Client) -> None:
    assert client.get("/v1/review/queue", params={"policy": "rv-nope"}).status_code == 404
    _policy(client, "rv-off")
    limit = client.get("/v1/review/queue", params={"policy": "rv-off", "limit": 0})
    assert limit.status_code == 422
    assert "limit" in limit.json()["detail"]


def test_answer_is_stored_only_where_prompts_are(client: httpx.Client) -> None:
    _policy(client, "rv-no-prompts", review={"rate": 1.0})
    routed = client.post("/v1/route", json={"policy": "rv-no-prompts", "prompt": "hi"}).json()
    refused = client.post(
        f"/v1/decisions/{routed['decision_id']}/response", json={"text": "Hello!"}
    )
    assert refused.status_code == 409
    assert "store_prompts" in refused.json()["detail"]
    assert client.get(f"/v1/decisions/{routed['decision_id']}").json()["response"] is None

    _policy(client, "rv-prompts", review={"rate": 1.0}, store_prompts=True)
    routed = client.post(
        "/v1/route", json={"policy": "rv-prompts", "prompt": "What is 2+2?"}
    ).json()
    url = f"/v1/decisions/{routed['decision_id']}/response"
    stored = client.post(url, json={"text": "4"})
    assert stored.status_code == 201, stored.text
    assert stored.json()["length"] == 1
    assert client.post(url, json={"text": "4"}).status_code == 200
    changed = client.post(url, json={"text": "5"})
    assert changed.status_code == 409
    assert "different answer" in changed.json()["detail"]
    items = client.get("/v1/review/queue", params={"policy": "rv-prompts"}).json()["items"]
    assert [(i["prompt"], i["response"]) for i in items] == [("What is 2+2?", "4")]
    assert client.post(url, json={"text": ""}).status_code == 422
    too_long = client.post(url, json={"text": "x" * 100_001})
    assert too_long.status_code == 422
    missing = client.post("/v1/decisions/rv-missing/response", json={"text": "4"})
    assert missing.status_code == 404


def test_evaluation_weighs_reviews_by_inclusion_probability(client: httpx.Client) -> None:
    """Model a reviewed at 100 %, model b at 20 %: reviewers score a 0.75 and b 0.25, so the
    whole log's mean is 0.5 while the reviews alone average far above it."""
    review = {"design": "stratified", "per_model": {"rv-a": 1.0, "rv-b": 0.2}}
    _policy(client, "rv-eval", review=review)
    quality = {"rv-a": 4, "rv-b": 2}  # stars: 0.75 and 0.25
    reviewed = {"rv-a": 0, "rv-b": 0}
    for i in range(200):
        model = "rv-a" if i % 2 == 0 else "rv-b"
        routed = client.post(
            "/v1/route",
            json={"policy": "rv-eval", "candidates": [model], "decision_id": f"rv-eval-{i}"},
        ).json()
        if review_draw(routed["decision_id"]) < review["per_model"][model]:  # type: ignore[index]
            reviewed[model] += 1
            for reviewer in ("ana", "ben"):
                sent = client.post(
                    "/v1/feedback",
                    json={
                        "decision_id": routed["decision_id"],
                        "stars": quality[model],
                        "source": "reviewer",
                        "reviewer": reviewer,
                    },
                )
                assert sent.status_code == 201, sent.text
            # A judge that agrees with the reviewers on every other reviewed decision.
            judged = {"rv-a": 0.75, "rv-b": 0.25} if reviewed[model] % 2 else {}
            if model in judged:
                client.post(
                    "/v1/feedback",
                    json={
                        "decision_id": routed["decision_id"],
                        "score": judged[model],
                        "source": "judge",
                    },
                ).raise_for_status()
    report = client.get(
        "/v1/policies/rv-eval/evaluation", params={"resamples": 5, "counterfactual": False}
    )
    assert report.status_code == 200, report.text
    reviews = report.json()["reviews"]
    n_a, n_b = reviewed["rv-a"], reviewed["rv-b"]
    assert reviews["reviewed_decisions"] == n_a + n_b
    assert reviews["models"]["rv-a"] == {
        "reviewed_decisions": n_a,
        "naive_mean": 0.75,
        "estimate": 0.75,
    }
    overall = reviews["quality"]
    naive = (0.75 * n_a + 0.25 * n_b) / (n_a + n_b)
    weighted = (0.75 * n_a + 0.25 * n_b * 5) / (n_a + n_b * 5)
    assert overall["naive_mean"] == pytest.approx(naive)
    assert overall["estimate"] == pytest.approx(weighted)
    assert abs(overall["estimate"] - 0.5) < 0.1 < overall["naive_mean"] - 0.5
    # Two reviewers who always agree, over decisions of different quality.
    assert reviews["agreement"] == {"alpha": 1.0, "decisions": n_a + n_b, "reviewers": 2}
    # The judge against the reviewers, where both scored: the judge's grades only.
    judged_count = (n_a + 1) // 2 + (n_b + 1) // 2
    assert reviews["judge_agreement"] == {"alpha": 1.0, "decisions": judged_count, "reviewers": 2}


def test_export_carries_review_probability_reviewer_and_comment(client: httpx.Client) -> None:
    _policy(client, "rv-export", review={"rate": 1.0})
    routed = client.post("/v1/route", json={"policy": "rv-export"}).json()
    client.post(
        "/v1/feedback",
        json={
            "decision_id": routed["decision_id"],
            "score": 0.6,
            "source": "reviewer",
            "reviewer": "cy",
            "comment": "Fine.",
        },
    ).raise_for_status()
    exported = client.get("/v1/policies/rv-export/export", params={"format": "jsonl"})
    assert exported.status_code == 200, exported.text
    (line,) = [json.loads(text) for text in exported.text.splitlines() if text]
    assert line["review_probability"] == 1.0
    assert [(f["reviewer"], f["comment"]) for f in line["feedback"]] == [("cy", "Fine.")]
