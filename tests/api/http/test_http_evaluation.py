"""Off-policy evaluation over HTTP against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.server import bearer_key


@pytest.fixture(scope="module")
def logged_rewards(client: httpx.Client) -> list[float]:
    """Policy ``ev``: 300 routed and scored decisions between a good and a bad model, logged
    once per server (each test needs them, whichever worker runs it)."""
    for model in ("ev-good", "ev-bad"):
        client.put(f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    created = client.put(
        "/v1/policies/ev",
        json={
            "models": ["ev-good", "ev-bad"],
            "exploration": {"algorithm": "epsilon", "epsilon": 0.5},
        },
    )
    assert created.status_code in (200, 201), created.text
    rng = np.random.default_rng(12)
    rewards = []
    for i in range(300):
        routed = client.post("/v1/route", json={"policy": "ev", "prompt": f"q{i % 9}"}).json()
        mean = 0.8 if routed["model"] == "ev-good" else 0.3
        score = float(np.clip(mean + rng.normal(0, 0.1), 0, 1))
        rewards.append(score)
        client.post("/v1/feedback", json={"decision_id": routed["decision_id"], "score": score})
    return rewards


def test_evaluation_estimates_the_log_and_answers_whether_routing_pays(
    client: httpx.Client, logged_rewards: list[float]
) -> None:
    rewards = logged_rewards
    response = client.get("/v1/policies/ev/evaluation", params={"resamples": 100})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["decisions"] == 300
    assert abs(report["observed_mean_reward"] - float(np.mean(rewards))) < 1e-9
    targets = {t["name"]: t for t in report["targets"]}
    logging = targets["logging policy"]["reward"]
    # Sanity: the logging policy's own IPS estimate is the observed mean.
    assert abs(logging["ips"]["value"] - report["observed_mean_reward"]) < 1e-9
    assert logging["ips"]["effective_sample_size"] == 300
    good = targets["only ev-good"]["reward"]["doubly_robust"]
    bad = targets["only ev-bad"]["reward"]["doubly_robust"]
    assert good["lower"] > bad["upper"]
    assert 0.7 < good["value"] < 0.9
    assert {"logging policy", "uniform", "only ev-good", "only ev-bad"} <= set(targets)
    # The router explored half the time, so always sending ev-good would have done better.
    assert report["pays_off"] is False
    assert report["verdict"].startswith("No,")


def test_evaluation_errors(client: httpx.Client) -> None:
    assert client.get("/v1/policies/nope/evaluation").status_code == 404
    client.put("/v1/models/ev-lonely", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put("/v1/policies/ev-empty", json={"models": ["ev-lonely"]})
    empty = client.get("/v1/policies/ev-empty/evaluation")
    assert empty.status_code == 422
    assert "at least 2" in empty.json()["detail"]
    backwards = client.get("/v1/policies/ev-empty/evaluation", params={"since": 5, "until": 1})
    assert backwards.status_code == 422
    assert "before" in backwards.json()["detail"]


@pytest.mark.usefixtures("logged_rewards")
def test_alternatives_are_trained_counterfactually_and_the_cli_prints_them(
    client: httpx.Client,
) -> None:
    import subprocess
    import sys

    report = client.get("/v1/policies/ev/evaluation", params={"resamples": 20}).json()
    names = [t["name"] for t in report["targets"]]
    alternatives = [n for n in names if n.startswith("alternative:")]
    assert len(alternatives) == 5
    for target in report["targets"]:
        if target["name"] in alternatives:
            assert target["decisions"] == 300
            dr = target["reward"]["doubly_robust"]
            assert dr["lower"] <= dr["value"] <= dr["upper"]
    skipped = client.get(
        "/v1/policies/ev/evaluation", params={"resamples": 20, "counterfactual": "false"}
    ).json()
    assert not [t for t in skipped["targets"] if t["name"].startswith("alternative:")]

    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "evaluate",
            "ev",
            "--url",
            str(client.base_url),
            "--key",
            bearer_key(client),
            "--resamples",
            "20",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert printed.returncode == 0, printed.stderr
    assert "alternative: epsilon-greedy 0.05" in printed.stdout
    assert report["verdict"] in printed.stdout
