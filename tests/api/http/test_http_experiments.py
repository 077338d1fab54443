"""The experiments API and CLI against the real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import httpx

from experiments import assign_candidate
from tests.server import bearer_key


def _setup(client: httpx.Client, policy: str) -> None:
    for model in (f"{policy}-a", f"{policy}-b", f"{policy}-new"):
        response = client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
        )
        assert response.status_code in (200, 201), response.text
    response = client.put(f"/v1/policies/{policy}", json={"models": [f"{policy}-a", f"{policy}-b"]})
    assert response.status_code in (200, 201), response.text


def _units_split(experiment_id: str, *, share: float, candidates: int, total: int) -> list[str]:
    """``total`` unit ids of which exactly ``candidates`` are assigned to the candidate."""
    on: list[str] = []
    off: list[str] = []
    for i in itertools.count():
        unit = f"user-{i}"
        chosen = on if assign_candidate(experiment_id, unit, share) else off
        if len(chosen) < (candidates if chosen is on else total - candidates):
            chosen.append(unit)
        if len(on) + len(off) == total:
            return sorted(on + off, key=lambda u: int(u.removeprefix("user-")))
    raise AssertionError("unreachable")


def test_experiment_lifecycle_over_http(client: httpx.Client) -> None:
    _setup(client, "exp1")
    created = client.post(
        "/v1/experiments",
        json={"policy": "exp1", "candidate": "exp1-new", "min_feedback_per_stage": 50},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert {"id", "status", "share"} <= set(body)
    assert (body["status"], body["share"], body["stage"]) == ("running", 0.1, 0)
    experiment_id = body["id"]

    # The experiment id (random) seeds every unit's arm: take 6 candidate and 54 control
    # units, the split the 10% stage expects, so the sample-ratio check cannot pause it by
    # chance (15 of 60 users once landed on the candidate: p = 0.00011).
    units = _units_split(experiment_id, share=0.1, candidates=6, total=60)
    routed = [
        client.post("/v1/route", json={"policy": "exp1", "unit_id": unit}).json() for unit in units
    ]
    arms = {r["experiment"]["arm"] for r in routed}
    assert arms == {"candidate", "control"}
    for r in routed:
        assert r["experiment"]["id"] == experiment_id
        assert r["experiment"]["share"] == 0.1
        assert (r["model"] == "exp1-new") == (r["experiment"]["arm"] == "candidate")
    # A unit keeps its arm.
    again = client.post("/v1/route", json={"policy": "exp1", "unit_id": units[3]}).json()
    assert again["experiment"]["arm"] == routed[3]["experiment"]["arm"]
    for r in routed:
        client.post("/v1/feedback", json={"decision_id": r["decision_id"], "score": 0.7})

    shown = client.get(f"/v1/experiments/{experiment_id}").json()
    assert set(shown["arms"]) == {"candidate", "control"}
    assert shown["arms"]["candidate"]["feedback"] + shown["arms"]["control"]["feedback"] == 60
    assert [h["action"] for h in shown["history"]] == ["start"]

    paused = client.post(f"/v1/experiments/{experiment_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert client.post("/v1/route", json={"policy": "exp1"}).json()["experiment"] is None
    assert client.post(f"/v1/experiments/{experiment_id}/pause").status_code == 409
    resumed = client.post(f"/v1/experiments/{experiment_id}/resume").json()
    assert resumed["status"] == "running"
    promoted = client.post(f"/v1/experiments/{experiment_id}/promote").json()
    assert (promoted["stage"], promoted["share"]) == (1, 0.25)
    history = promoted["history"]
    assert [h["action"] for h in history] == ["start", "pause", "resume", "next_stage"]
    assert all(h["manual"] for h in history)
    rolled = client.post(f"/v1/experiments/{experiment_id}/rollback").json()
    assert rolled["status"] == "rolled_back"
    assert client.post("/v1/route", json={"policy": "exp1"}).json()["experiment"] is None
    listed = client.get("/v1/experiments", params={"policy": "exp1"}).json()
    assert [e["id"] for e in listed] == [experiment_id]


def test_experiment_errors_are_clear_4xx(client: httpx.Client) -> None:
    _setup(client, "exp2")
    ok = client.post("/v1/experiments", json={"policy": "exp2", "candidate": "exp2-new"})
    assert ok.status_code == 201, ok.text
    cases = [
        ({"policy": "exp2", "candidate": "exp2-new"}, 409, "in progress"),
        ({"policy": "nope", "candidate": "exp2-new"}, 404, "'nope'"),
        ({"policy": "exp2", "candidate": "ghost"}, 404, "'ghost'"),
        ({"policy": "exp2", "candidate": "exp2-a"}, 409, "already"),
        ({"policy": "exp2", "candidate": "exp2-new", "stages": [0.5, 0.2, 1.0]}, 422, "increasing"),
        ({"policy": "exp2", "candidate": "exp2-new", "mode": "replace"}, 422, "replaces"),
    ]
    for body, status, fragment in cases:
        response = client.post("/v1/experiments", json=body)
        assert response.status_code == status, (body, response.text)
        assert fragment in response.json()["detail"], response.json()["detail"]
    assert client.get("/v1/experiments/unknown").status_code == 404
    experiment_id = ok.json()["id"]
    bad = client.post(f"/v1/experiments/{experiment_id}/explode")
    assert bad.status_code == 422
    assert "explode" in bad.json()["detail"]


def test_experiments_cli(client: httpx.Client) -> None:
    _setup(client, "exp3")
    url = str(client.base_url)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "api.cli",
                "experiments",
                "--url",
                url,
                "--key",
                bearer_key(client),
                "--json",
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    created = cli("create", "exp3", "exp3-new", "--margin", "0.05", "--max-cost-ratio", "2")
    assert created.returncode == 0, created.stderr
    experiment = json.loads(created.stdout)
    assert experiment["guardrails"]["max_cost_ratio"] == 2.0
    shown = cli("show", experiment["id"])
    assert json.loads(shown.stdout)["status"] == "running"
    assert json.loads(cli("rollback", experiment["id"]).stdout)["status"] == "rolled_back"
    again = cli("rollback", experiment["id"])
    assert again.returncode == 1
    assert "rolled_back" in again.stderr
