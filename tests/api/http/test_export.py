"""``GET /v1/policies/{name}/export`` and ``bandit-router export`` against the real server."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import vowpalwabbit

from api.cli import main
from tests.server import bearer_key


def _route_with_feedback(client: httpx.Client, tag: str, count: int) -> dict[str, float]:
    """Route ``count`` decisions; score all but the last; return decision id -> score."""
    scores: dict[str, float] = {}
    for index in range(count):
        routed = client.post(
            "/v1/route", json={"prompt": f"{tag} question {index}?", "features": {"task": tag}}
        )
        assert routed.status_code == 200, routed.text
        decision_id = routed.json()["decision_id"]
        if index < count - 1:
            score = (index % 4) / 4
            sent = client.post("/v1/feedback", json={"decision_id": decision_id, "score": score})
            assert sent.status_code == 201, sent.text
            scores[decision_id] = score
        else:
            scores[decision_id] = float("nan")
    return scores


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def test_both_formats_carry_the_log_and_vw_reads_the_dsjson(client: httpx.Client) -> None:
    start = time.time() - 1
    scores = _route_with_feedback(client, "export", 6)
    ids = list(scores)
    window = {"since": start}

    rows = _lines(client.get("/v1/policies/default/export", params={"format": "jsonl", **window}))
    by_id = {row["id"]: row for row in rows}
    assert set(ids) <= set(by_id)
    for decision_id in ids:
        stored = client.get(f"/v1/decisions/{decision_id}").json()
        row = by_id[decision_id]
        assert row["model"] == stored["model"]
        assert row["propensity"] == stored["probability"]
        assert row["candidates"] == stored["candidates"]
        assert row["context"] == stored["context"]
        assert row["features"] == {"task": "export"}
        assert row["reward"] == stored["reward"]
        assert [f["feedback_id"] for f in row["feedback"]] == [
            f["feedback_id"] for f in stored["feedback"]
        ]
    assert by_id[ids[-1]]["reward"] is None
    created = [row["created_at"] for row in rows]
    assert created == sorted(created)

    dsjson = client.get("/v1/policies/default/export", params=window)  # dsjson is the default
    events = _lines(dsjson)
    assert ids[-1] not in {e["EventId"] for e in events}  # no reward joined: skipped
    with_unlabeled = _lines(
        client.get("/v1/policies/default/export", params={**window, "unlabeled": "include"})
    )
    assert ids[-1] in {e["EventId"] for e in with_unlabeled}

    workspace = vowpalwabbit.Workspace("--cb_explore_adf --dsjson --quiet")
    try:
        seen = 0
        for line in dsjson.text.splitlines():
            event = json.loads(line)
            row = by_id[event["EventId"]]
            examples = workspace.parse(line)
            assert len(examples) == 1 + len(row["candidates"])
            chosen = row["candidates"].index(row["model"])
            label = examples[1 + chosen].get_label(vowpalwabbit.LabelType.CONTEXTUAL_BANDIT)
            [cost] = label.costs
            assert cost.action == chosen + 1
            assert cost.cost == pytest.approx(-row["reward"]["reward"], abs=1e-6)
            assert cost.probability == pytest.approx(row["propensity"], abs=1e-6)
            workspace.learn(examples)
            workspace.finish_example(examples)
            seen += 1
        assert seen == len(ids) - 1
    finally:
        workspace.finish()


def test_range_is_half_open_and_accepts_iso_times(client: httpx.Client) -> None:
    first = _route_with_feedback(client, "range-a", 3)
    time.sleep(0.05)
    middle = time.time()
    time.sleep(0.05)
    second = _route_with_feedback(client, "range-b", 3)
    rows = _lines(
        client.get("/v1/policies/default/export", params={"format": "jsonl", "since": middle})
    )
    exported = {row["id"] for row in rows}
    assert set(second) <= exported
    assert not set(first) & exported
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(middle)) + f"{middle % 1:.6f}"[1:]
    rows = _lines(
        client.get("/v1/policies/default/export", params={"format": "jsonl", "until": until + "Z"})
    )
    exported = {row["id"] for row in rows}
    assert set(first) <= exported
    assert not set(second) & exported


def test_more_rows_than_a_page_stream_in_order(client: httpx.Client) -> None:
    start = time.time() - 1
    # Four at a time: sixteen kept a standing queue on a busy machine, and the server rightly
    # shed some of them (503), which is not what this test is about.
    with ThreadPoolExecutor(max_workers=4) as pool:
        routed = list(
            pool.map(lambda i: client.post("/v1/route", json={"prompt": f"bulk {i}"}), range(1_200))
        )
    ids = {r.json()["decision_id"] for r in routed}
    with client.stream(
        "GET", "/v1/policies/default/export", params={"format": "jsonl", "since": start}
    ) as response:
        assert response.status_code == 200
        rows = [json.loads(line) for line in response.iter_lines() if line]
    assert ids <= {row["id"] for row in rows}
    keys = [(row["created_at"], row["id"]) for row in rows]
    assert keys == sorted(keys)
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/v1/policies/nope/export", {}, 404, "'nope'"),
        ("/v1/policies/default/export", {"format": "csv"}, 422, "'csv'"),
        ("/v1/policies/default/export", {"since": "yesterday"}, 422, "'yesterday'"),
        ("/v1/policies/default/export", {"since": "nan"}, 422, "since"),
        ("/v1/policies/default/export", {"since": 20, "until": 10}, 422, "after it ends"),
        ("/v1/policies/default/export", {"unlabeled": "maybe"}, 422, "'maybe'"),
    ],
)
def test_bad_requests_get_a_sentence(
    client: httpx.Client, path: str, params: dict[str, object], status: int, fragment: str
) -> None:
    response = client.get(path, params=params)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail.endswith("."), detail
    assert fragment in detail, detail


def test_cli_streams_to_a_file_and_reports_errors(
    client: httpx.Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = time.time() - 1
    scores = _route_with_feedback(client, "cli", 3)
    output = tmp_path / "log.dsjson"
    url = str(client.base_url)
    assert (
        main(
            [
                "export",
                "default",
                "--url",
                url,
                "--key",
                bearer_key(client),
                "--since",
                str(start),
                "--output",
                str(output),
            ]
        )
        == 0
    )
    events = [json.loads(line) for line in output.read_text().splitlines()]
    assert set(list(scores)[:-1]) <= {e["EventId"] for e in events}
    assert (
        main(
            [
                "export",
                "default",
                "--url",
                url,
                "--key",
                bearer_key(client),
                "--format",
                "jsonl",
                "--since",
                str(start),
            ]
        )
        == 0
    )
    printed = {json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()}
    assert set(scores) <= printed
    assert main(["export", "missing", "--url", url, "--key", bearer_key(client)]) == 1
    assert "'missing'" in capsys.readouterr().err
