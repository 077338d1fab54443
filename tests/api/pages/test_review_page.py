"""The review page in a real headless browser (Debian's chromium) against the real server:
a reviewer with a ``review`` key rates sampled decisions from the keyboard."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from playwright.sync_api import Page

from tests.browser import chromium_page
from tests.proxy_fake import fake_providers
from tests.server import RunningServer, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("server")
    running = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
    try:
        yield running
    finally:
        running.stop()


PROMPTS = [
    "Summarise the refund policy for a customer who bought a jacket 40 days ago.",
    "Translate 'Where is the station?' into German.",
    "What is the capital of Australia?",
]
ANSWERS = [
    "Refunds are accepted within 30 days, so this purchase is outside the window; offer "
    "store credit instead.",
    "Wo ist der Bahnhof?",
]


def _populate(client: httpx.Client) -> tuple[list[str], str, str]:
    """A policy that stores prompts, reviewing every decision, with answers for two of its
    three decisions; one without prompts; and a key with the review scope only."""
    for model in ("page-a", "page-b"):
        client.put(
            f"/v1/models/{model}", json={"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
        ).raise_for_status()
    for policy, store in (("page", True), ("page-features", False)):
        client.put(
            f"/v1/policies/{policy}",
            json={"models": ["page-a", "page-b"], "store_prompts": store, "review": {"rate": 1}},
        ).raise_for_status()
    ids = []
    for i, prompt in enumerate(PROMPTS):
        routed = client.post(
            "/v1/route",
            json={"policy": "page", "prompt": prompt, "decision_id": f"page-{i}"},
        ).raise_for_status()
        ids.append(routed.json()["decision_id"])
        if i < len(ANSWERS):
            client.post(
                f"/v1/decisions/{ids[-1]}/response", json={"text": ANSWERS[i]}
            ).raise_for_status()
    hidden = client.post(
        "/v1/route",
        json={"policy": "page-features", "prompt": "secret", "features": {"task": "code"}},
    ).raise_for_status()
    key = client.post("/v1/keys", json={"name": "reviewer", "scopes": ["review"]})
    return ids, hidden.json()["decision_id"], key.raise_for_status().json()["key"]


def _reviewer_feedback(client: httpx.Client, decision_id: str) -> list[dict[str, object]]:
    decision = client.get(f"/v1/decisions/{decision_id}").json()
    return [
        {k: f[k] for k in ("score", "reviewer", "comment")}
        for f in decision["feedback"]
        if f["source"] == "reviewer"
    ]


def _load(page: Page, policy: str) -> None:
    page.fill("#policy", policy)
    page.click("#queue-form button[type=submit]")
    page.wait_for_selector(f"body[data-loaded='{policy}']", timeout=60_000)


def test_reviewer_rates_from_the_keyboard(server: RunningServer, tmp_path: Path) -> None:
    with server.client(timeout=60) as client:
        ids, hidden, review_key = _populate(client)
        page_response = client.get("/review")
        assert page_response.status_code == 200
        assert page_response.headers["content-type"].startswith("text/html")

    with chromium_page(width=1200, height=760) as (page, seen):
        page.goto(f"{server.url}/review")
        # Without a key the page asks for one and calls nothing.
        page.wait_for_selector("#key-message", timeout=60_000)
        assert not [url for url in seen.requests if "/v1/" in url]
        page.fill("#key", review_key)
        page.click("#key-form button[type=submit]")
        page.fill("#reviewer", "ana")
        _load(page, "page")
        assert page.evaluate("sessionStorage.getItem('bandit-router-key')") == review_key
        assert page.locator("#queue li").count() == 3
        assert page.locator("body").get_attribute("data-current") == ids[0]
        assert page.locator("#prompt").inner_text() == PROMPTS[0]
        assert page.locator("#answer").inner_text() == ANSWERS[0]
        shot = Path(os.environ.get("REVIEW_SCREENSHOT", str(tmp_path / "review.png")))
        page.screenshot(path=str(shot), full_page=True)

        # n and p move; 4 rates the current decision and moves on.
        page.keyboard.press("n")
        assert page.locator("#prompt").inner_text() == PROMPTS[1]
        page.keyboard.press("p")
        assert page.locator("#prompt").inner_text() == PROMPTS[0]
        page.keyboard.press("4")
        page.wait_for_selector("#status-message.ok")
        assert page.locator("#queue li").count() == 2
        assert page.locator("#prompt").inner_text() == PROMPTS[1]
        # A comment: c focuses it, typing digits there is text, Escape leaves, 2 rates.
        page.keyboard.press("c")
        page.keyboard.type("Right words, 5 stars for the grammar; too terse.")
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        page.wait_for_function("document.querySelectorAll('#queue li').length === 1")
        # The last one has no answer yet; a 0..1 score through s and Enter.
        assert "no answer was stored" in page.locator("#answer").inner_text()
        assert page.locator("#queue li.unanswered").count() == 1
        page.keyboard.press("s")
        page.keyboard.type("0.3")
        page.keyboard.press("Enter")
        page.wait_for_selector("#empty")

        # Another policy keeps no prompts: the decision and the caller's features.
        _load(page, "page-features")
        assert page.locator("#prompt").count() == 0
        features = page.locator("#features").inner_text()
        assert "task" in features
        assert "code" in features
        assert "secret" not in page.locator("#item").inner_text()
        page.fill("#policy", "no-such-policy")
        page.click("#queue-form button[type=submit]")
        page.wait_for_selector("#queue-error", timeout=60_000)
        assert "does not exist" in page.locator("#queue-error").inner_text()

    # Chromium logs the deliberate 404 of the unknown policy; nothing else may go wrong.
    expected = [e for e in seen.errors if "status of 404" in e]
    assert len(expected) == 1
    assert [e for e in seen.errors if e not in expected] == []
    assert seen.requests_elsewhere(server.url) == []
    assert all(review_key not in url for url in seen.requests)
    with server.client() as client:
        assert _reviewer_feedback(client, ids[0]) == [
            {"score": 0.75, "reviewer": "ana", "comment": None}
        ]
        assert _reviewer_feedback(client, ids[1]) == [
            {
                "score": 0.25,
                "reviewer": "ana",
                "comment": "Right words, 5 stars for the grammar; too terse.",
            }
        ]
        assert _reviewer_feedback(client, ids[2]) == [
            {"score": 0.3, "reviewer": "ana", "comment": None}
        ]
        assert _reviewer_feedback(client, hidden) == []


def test_a_proxied_answer_is_reviewed_blind_with_its_conversation(tmp_path: Path) -> None:
    """Issue 20: the proxy keeps the answer and the conversation with its roles; the page
    shows them with the model hidden, and a key press records the reviewer's score."""
    answer = "The capital of Australia is Canberra."
    with fake_providers() as fake:
        server = start_server(
            f"sqlite:///{tmp_path / 'router.db'}",
            tmp_path,
            env={"BANDIT_ROUTER_PROVIDER_KEY_ENVS": "FAKE_KEY", "FAKE_KEY": "sk-fake"},
        )
        try:
            with server.client(timeout=60) as client:
                for model in ("secret-model-a", "secret-model-b"):
                    client.put(
                        f"/v1/models/{model}",
                        json={
                            "input_usd_per_mtok": 1,
                            "output_usd_per_mtok": 2,
                            "endpoint": {
                                "api": "openai",
                                "base_url": fake.openai_base_url,
                                "model": f"answer={answer}",
                                "api_key_env": "FAKE_KEY",
                            },
                        },
                    ).raise_for_status()
                client.put(
                    "/v1/policies/proxied",
                    json={
                        "models": ["secret-model-a", "secret-model-b"],
                        "store_prompts": True,
                        "review": {"rate": 1},
                    },
                ).raise_for_status()
                with openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key) as sdk:
                    raw = sdk.chat.completions.with_raw_response.create(
                        model="router/proxied",
                        messages=[
                            {"role": "system", "content": "Answer in one sentence."},
                            {"role": "user", "content": "What is the capital of Australia?"},
                        ],
                    )
                decision_id = raw.headers["x-bandit-router-decision-id"]
                model = raw.headers["x-bandit-router-model"]
                _wait_for_answer(client, decision_id)
                key = client.post("/v1/keys", json={"name": "blind", "scopes": ["review"]})
                review_key = key.raise_for_status().json()["key"]

            with chromium_page(width=1200, height=760) as (page, seen):
                page.goto(f"{server.url}/review")
                page.wait_for_selector("#key-message", timeout=60_000)
                page.fill("#key", review_key)
                page.click("#key-form button[type=submit]")
                page.fill("#reviewer", "bo")
                _load(page, "proxied")
                roles = page.locator("#conversation .turn").evaluate_all(
                    "turns => turns.map(t => t.dataset.role)"
                )
                assert roles == ["system", "user"]
                assert "capital of Australia" in page.locator("#queue li").inner_text()
                assert page.locator("#answer").inner_text() == answer
                # Blind: the model's name is nowhere on the page until asked for.
                assert model not in page.locator("body").inner_text()
                assert "hidden" in page.locator("#model").inner_text()
                page.keyboard.press("m")
                assert model in page.locator("#model").inner_text()
                page.keyboard.press("m")
                assert model not in page.locator("body").inner_text()
                page.keyboard.press("5")
                page.wait_for_selector("#empty")
            assert seen.errors == []
            with server.client() as client:
                assert _reviewer_feedback(client, decision_id) == [
                    {"score": 1.0, "reviewer": "bo", "comment": None}
                ]
        finally:
            server.stop()


def _wait_for_answer(client: httpx.Client, decision_id: str) -> None:
    """The proxy keeps the answer once it is sent (after the response)."""
    deadline = time.monotonic() + 30
    while client.get(f"/v1/decisions/{decision_id}").json()["response"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
