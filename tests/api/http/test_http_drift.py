"""The drift report over HTTP against the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.cli import main
from tests.server import bearer_key, start_server


@dataclass(frozen=True)
class Sent:
    model: str
    task: str
    score: float
    cost: float
    latency: float
    error: bool


def _route_and_rate(
    client: httpx.Client, rng: np.random.Generator, start: int, *, late: bool
) -> list[Sent]:
    """100 decisions; in the late half dr-a got worse and every caller is on another tier."""
    sent = []
    for i in range(start, start + 100):
        task = "code" if i % 2 == 0 else "chat"
        routed = client.post(
            "/v1/route",
            json={
                "policy": "dr",
                "prompt": f"question {i % 7}",
                "features": {"task": task, "tier": "pro" if late else "free"},
            },
        )
        assert routed.status_code in (200, 201), routed.text
        model = routed.json()["model"]
        mean = {"dr-a": 0.3 if late else 0.9, "dr-b": 0.6}[model]
        score = float(np.clip(mean + rng.normal(0, 0.05), 0, 1))
        error = i % 10 == 0  # every fifth "code" request reports an error
        item = Sent(model, task, score, 0.001 * (1 + i % 3), 100.0 + i, error)
        sent.append(item)
        feedback = client.post(
            "/v1/feedback",
            json={
                "decision_id": routed.json()["decision_id"],
                "score": score,
                "cost_usd": item.cost,
                "latency_ms": item.latency,
                # Half the fallbacks are errors, half are retries on another model.
                **(
                    ({"error": "upstream 502"} if i % 20 == 0 else {"fallback": True})
                    if error
                    else {}
                ),
            },
        )
        assert feedback.status_code in (200, 201), feedback.text
    return sent


def _cost_per_success(sent: list[Sent]) -> float | None:
    successes = sum(1 for s in sent if s.score >= 0.7)
    return math.fsum(s.cost for s in sent) / successes if successes else None


def test_drift_reports_buckets_kpis_groups_and_flags(client: httpx.Client) -> None:
    for model in ("dr-a", "dr-b"):
        client.put(f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    created = client.put(
        "/v1/policies/dr",
        json={
            "models": ["dr-a", "dr-b"],
            "exploration": {"algorithm": "epsilon", "epsilon": 0.5},
        },
    )
    assert created.status_code in (200, 201), created.text
    rng = np.random.default_rng(5)
    t0 = time.time()
    sent = _route_and_rate(client, rng, 0, late=False)
    middle = time.time()
    sent += _route_and_rate(client, rng, 100, late=True)
    end = time.time() + 1

    response = client.get(
        "/v1/policies/dr/drift",
        params={"since": t0, "until": end, "bucket_seconds": middle - t0, "group_by": "task"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["decisions"] == 200
    assert report["truncated"] is False
    assert report["max_decisions"] == 100_000
    buckets = report["buckets"]
    assert len(buckets) >= 2
    assert buckets[0]["decisions"] == 100  # the reference window is the early half
    assert sum(b["decisions"] for b in buckets) == 200
    for bucket in buckets:
        assert sum(bucket["shares"].values()) == pytest.approx(1.0)
        assert bucket["feedback_rate"] == 1.0
        assert bucket["median_feedback_delay_seconds"] >= 0
        assert bucket["min_policy_version"] <= bucket["max_policy_version"]
        assert sum(m["decisions"] for m in bucket["models"]) == bucket["decisions"]
    early = {m["model"]: m for m in buckets[0]["models"]}
    a_early = [s for s in sent[:100] if s.model == "dr-a"]
    assert early["dr-a"]["mean_quality"] == pytest.approx(np.mean([s.score for s in a_early]))
    assert early["dr-a"]["cost_per_success_usd"] == pytest.approx(_cost_per_success(a_early))

    kpis = report["kpis"]
    assert kpis["decisions"] == 200
    assert kpis["fallback_rate"] == pytest.approx(0.1)
    assert kpis["cost_per_success_usd"] == pytest.approx(_cost_per_success(sent))
    assert kpis["p95_latency_ms"] == pytest.approx(np.quantile([s.latency for s in sent], 0.95))
    assert sum(kpis["utilization"].values()) == pytest.approx(1.0)
    assert kpis["utilization"]["dr-a"] == pytest.approx(sum(s.model == "dr-a" for s in sent) / 200)
    assert kpis["quality_drift"] < 0  # dr-a got worse

    groups = report["groups"]
    assert set(groups) == {"code", "chat"}
    assert groups["code"]["decisions"] == groups["chat"]["decisions"] == 100
    assert groups["code"]["fallback_rate"] == pytest.approx(0.2)
    assert groups["chat"]["fallback_rate"] == 0.0
    code = [s for s in sent if s.task == "code"]
    assert groups["code"]["cost_per_success_usd"] == pytest.approx(_cost_per_success(code))

    drops = {f["subject"] for f in report["flags"] if f["kind"] == "reward_drop"}
    assert drops == {"dr-a"}
    shifted = {f["subject"] for f in report["flags"] if f["kind"] == "feature_shift"}
    assert any(feature.startswith("caller^") for feature in shifted), shifted
    assert all(not s["flagged"] for s in buckets[0]["feature_shift"])

    change = report["pmf_change"]
    assert change["probes"] == 50
    assert len(change["steps"]) == max(len(change["snapshots"]) - 1, 0)
    for step in change["steps"]:
        assert 0.0 <= step["mean_total_variation"] <= 1.0


def test_drift_without_grouping_and_on_an_empty_range(client: httpx.Client) -> None:
    client.put("/v1/models/dr-lonely", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put("/v1/policies/dr-empty", json={"models": ["dr-lonely"]})
    report = client.get("/v1/policies/dr-empty/drift", params={"group_by": ""}).json()
    assert report["decisions"] == 0
    assert report["buckets"] == []
    assert report["groups"] == {}
    assert report["kpis"]["cost_per_success_usd"] is None
    assert report["pmf_change"]["probes"] == 0


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"bucket_seconds": 0}, "bucket_seconds"),
        ({"bucket_seconds": -5}, "bucket_seconds"),
        ({"since": 5, "until": 1}, "before"),
        ({"since": 5, "until": 5}, "before"),
        ({"success_threshold": 1.5}, "success_threshold"),
        ({"psi_threshold": 0}, "psi_threshold"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_drift_rejects_bad_input_with_a_sentence(
    client: httpx.Client, params: dict[str, float | str], words: str
) -> None:
    client.put("/v1/models/dr-lonely", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put("/v1/policies/dr-empty", json={"models": ["dr-lonely"]})
    response = client.get("/v1/policies/dr-empty/drift", params=params)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def test_unknown_policy_is_404(client: httpx.Client) -> None:
    response = client.get("/v1/policies/nope/drift")
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_pmf_change_between_stored_snapshots(tmp_path: Path) -> None:
    """Its own SQLite server that snapshots every 10 interactions, so versions exist."""
    server = start_server(f"sqlite:///{tmp_path / 'router.db'}", tmp_path, "--snapshot-every", "10")
    try:
        with server.client() as client:
            for model in ("pc-a", "pc-b"):
                client.put(
                    f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
                )
            client.put("/v1/policies/pc", json={"models": ["pc-a", "pc-b"]})
            change: dict[str, Any] = {}
            deadline = time.monotonic() + 60
            i = 0
            while time.monotonic() < deadline:
                for _ in range(15):
                    routed = client.post("/v1/route", json={"policy": "pc", "prompt": f"q{i}"})
                    score = 0.9 if routed.json()["model"] == "pc-a" else 0.1
                    client.post(
                        "/v1/feedback",
                        json={"decision_id": routed.json()["decision_id"], "score": score},
                    )
                    i += 1
                time.sleep(1.5)  # one learning step (every second) stores a snapshot
                change = client.get("/v1/policies/pc/drift").json()["pmf_change"]
                if len(change["snapshots"]) >= 3:
                    break
    finally:
        server.stop()
    assert change["probes"] == min(i, 50)
    snapshots = change["snapshots"]
    assert 3 <= len(snapshots) <= 5
    assert snapshots == sorted(snapshots)
    steps = change["steps"]
    assert len(steps) == len(snapshots) - 1
    assert all(0.0 <= step["mean_total_variation"] <= 1.0 for step in steps)
    assert change["mean_total_variation"] is not None


def test_the_cli_prints_the_report_or_the_error(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    client.put("/v1/models/dr-lonely", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put("/v1/policies/dr-empty", json={"models": ["dr-lonely"]})
    remote = ["--url", str(client.base_url), "--key", bearer_key(client)]
    assert main(["drift", "dr-empty", *remote, "--bucket-seconds", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"] == "dr-empty"
    assert report["bucket_seconds"] == 60
    assert main(["drift", "dr-empty", *remote, "--bucket-seconds", "0"]) == 1
    assert "bucket_seconds must be a positive number" in capsys.readouterr().err


def test_a_models_quality_drop_on_one_task_is_flagged_and_hashed_words_are_not(
    client: httpx.Client,
) -> None:
    """Issue 22: one model's quality on one task fell from 0.92 to 0.40 mid-stream; drift did
    not flag it (a policy-wide mean hid it), while 20 flags fired on hashed prompt words,
    against a reference window of a first bucket of 5 decisions."""
    for model in ("qd-a", "qd-b"):
        client.put(f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 1})
    client.put(
        "/v1/policies/qd",
        json={"models": ["qd-a", "qd-b"], "exploration": {"algorithm": "uniform"}},
    ).raise_for_status()
    rng = np.random.default_rng(22)
    words = [f"topic{k}" for k in range(40)]
    began = time.time()
    stamps = []
    for i in range(600):
        late = i >= 300
        task = ("code", "chat", "math")[i % 3]
        # New topics late: every word changes, which says nothing about quality.
        prompt = " ".join(rng.choice(words[20:] if late else words[:20], size=6))
        routed = client.post(
            "/v1/route", json={"policy": "qd", "prompt": prompt, "features": {"task": task}}
        ).json()
        dropped = late and routed["model"] == "qd-a" and task == "code"
        score = float(np.clip((0.40 if dropped else 0.92) + rng.normal(0, 0.04), 0, 1))
        client.post(
            "/v1/feedback", json={"decision_id": routed["decision_id"], "score": score}
        ).raise_for_status()
        stamps.append(time.time())

    # Three buckets before the change and three after: its moment is a bucket boundary.
    bucket = (stamps[299] - began) / 3
    report = client.get(
        "/v1/policies/qd/drift",
        params={"since": began, "bucket_seconds": bucket, "group_by": "task"},
    ).json()

    quality = [f for f in report["flags"] if f["kind"] == "quality_drop"]
    assert quality, report["flags"]
    assert {f["subject"] for f in quality} == {"qd-a (task=code)"}
    found = re.search(r"quality of ([0-9.]+) against ([0-9.]+)", quality[0]["message"])
    assert found is not None, quality[0]["message"]
    now, before = float(found.group(1)), float(found.group(2))
    assert now < 0.5 < 0.88 < before
    assert not [f for f in report["flags"] if f["subject"].startswith("words^")]
