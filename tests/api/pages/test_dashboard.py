"""The dashboard in a real headless browser (Debian's chromium) against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.browser import chromium_page
from tests.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("server")
    running = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
    try:
        yield running
    finally:
        running.stop()


def _populate(client: httpx.Client) -> None:
    """Three models, a policy over two of them with 60 rated decisions, and an experiment."""
    for model in ("dash-a", "dash-b", "dash-new"):
        put = client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
        )
        assert put.status_code in (200, 201), put.text
    policy = client.put(
        "/v1/policies/dash",
        json={
            "models": ["dash-a", "dash-b"],
            "exploration": {"algorithm": "epsilon", "epsilon": 0.5},
        },
    )
    assert policy.status_code in (200, 201), policy.text
    rng = np.random.default_rng(5)
    for i in range(60):
        routed = client.post(
            "/v1/route",
            json={"policy": "dash", "prompt": f"question {i % 7}", "features": {"task": "chat"}},
        )
        assert routed.status_code in (200, 201), routed.text
        mean = {"dash-a": 0.8, "dash-b": 0.4}[routed.json()["model"]]
        feedback = client.post(
            "/v1/feedback",
            json={
                "decision_id": routed.json()["decision_id"],
                "score": float(np.clip(mean + rng.normal(0, 0.05), 0, 1)),
                "cost_usd": 0.001,
            },
        )
        assert feedback.status_code in (200, 201), feedback.text
    experiment = client.post("/v1/experiments", json={"policy": "dash", "candidate": "dash-new"})
    assert experiment.status_code in (200, 201), experiment.text


def test_dashboard_renders_real_data_without_errors(server: RunningServer, tmp_path: Path) -> None:
    with server.client(timeout=60) as client:
        _populate(client)
        page_response = client.get("/dashboard")
        assert page_response.status_code == 200
        assert page_response.headers["content-type"].startswith("text/html")
        evaluation = client.get("/v1/policies/dash/evaluation", params={"resamples": 100})

    with chromium_page(width=1280, height=1000) as (page, seen):
        page.goto(f"{server.url}/dashboard")
        # Without a key the page asks for one and calls nothing.
        page.wait_for_selector("#key-message", timeout=60_000)
        assert not [url for url in seen.requests if "/v1/" in url]
        page.fill("#key", server.admin_key)
        page.click("#key-form button[type=submit]")
        page.wait_for_selector("body[data-loaded='dash']", timeout=60_000)
        stored = page.evaluate("sessionStorage.getItem('bandit-router-key')")
        assert stored == server.admin_key
        assert all(server.admin_key not in url for url in seen.requests)

        assert page.locator("#policy-name").inner_text() == "dash"
        assert page.locator("#shares svg rect.share").count() >= 2
        assert page.locator("#reward svg circle.reward").count() >= 1
        legend = page.locator("#shares-legend").inner_text()
        assert "dash-a" in legend
        assert "dash-b" in legend
        if evaluation.status_code == 200:
            verdict = page.locator("#verdict").inner_text()
            assert evaluation.json()["verdict"] in verdict
            assert page.locator("#evaluation table tr").count() == 1 + len(
                evaluation.json()["targets"]
            )
        else:
            assert evaluation.status_code == 422
            message = page.locator("#evaluation-message").inner_text()
            assert message == evaluation.json()["detail"]
        experiments = page.locator("#experiments tr.experiment")
        assert experiments.count() == 1
        assert "dash-new" in experiments.inner_text()
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)

    assert seen.errors == []
    assert seen.requests, "the page made no requests"
    assert seen.requests_elsewhere(server.url) == []
