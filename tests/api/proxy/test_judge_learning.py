"""Issue 20's acceptance: a policy behind the OpenAI-compatible endpoint learns from its judge
alone (no feedback from the caller), keeps the judge's spend apart and under its cap, and
without a judge learns nothing and says so. Real server, official ``openai`` SDK, local fakes
(tests/proxy_fake.py) answering in OpenAI's shapes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.judge_learning import drive, register_models
from tests.proxy_world import KEY_ENV, ProxyWorld, proxy_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyWorld]:
    with proxy_world(tmp_path_factory.mktemp("judge")) as world:
        register_models(world.http, world.fake, KEY_ENV)
        yield world


def test_a_judge_alone_teaches_the_policy_the_best_model_per_task(setup: ProxyWorld) -> None:
    run = drive(setup.http, setup.sdk, requests=2000, sample_rate=0.25, seed=1)

    assert min(run.best_share.values()) >= 0.8, run.best_share
    judge = run.status["quality_signal"]["judge"]
    # About a quarter of the answers were graded and learned; none cost the routed models.
    assert 350 <= judge["graded"] <= 650, judge
    assert run.learned >= judge["graded"] - 5
    assert 0.0 < judge["spend_usd_last_hour"] < 1.0
    assert judge["shed"] == 0
    assert judge["failed"] == 0
    assert run.warnings == []
    judge_calls = setup.fake.bodies("judge")
    assert len(judge_calls) == judge["graded"]


def test_without_a_judge_nothing_is_learned_and_the_status_says_why(setup: ProxyWorld) -> None:
    run = drive(setup.http, setup.sdk, requests=60, sample_rate=None, seed=2, tail=60)

    assert run.learned == 0
    quality = run.status["quality_signal"]
    assert quality["without_quality_last_hour"] == 60
    assert quality["judge"] is None
    assert "60 decisions in the last hour had no quality signal" in quality["warning"]
    assert len(run.warnings) == 1
    assert "no quality signal" in run.warnings[0]
    metrics = setup.http.get("/metrics").text
    assert f'bandit_router_decisions_without_quality_last_hour{{policy="{run.policy}"}} 60.0' in (
        metrics
    )


def test_the_judge_stops_at_its_hourly_cap(setup: ProxyWorld) -> None:
    # Each grade costs about 0.0002 USD at the judge's prices: a cap of 0.001 holds a handful.
    run = drive(
        setup.http,
        setup.sdk,
        requests=80,
        sample_rate=1.0,
        seed=3,
        tail=80,
        max_usd_per_hour=0.001,
    )

    judge = run.status["quality_signal"]["judge"]
    assert 1 <= judge["graded"] <= 15, judge
    # Spend may pass the cap by the calls in flight when it was reached, no more.
    assert judge["spend_usd_last_hour"] < 0.001 + 4 * 0.0003
    # Past the cap nothing more is sampled, so nothing more is queued or dropped.
    assert judge["shed"] == 0


@pytest.mark.parametrize(
    ("judge", "named"),
    [
        ({"model": "no-such-model"}, "'no-such-model' is not a registered model"),
        ({"model": "no-endpoint"}, "'no-endpoint' has no endpoint"),
        ({"model": "judge", "sample_rate": 1.5}, "sample_rate"),
        ({"model": "judge", "sample_rate": -0.1}, "sample_rate"),
        ({"model": "judge", "max_usd_per_hour": -1}, "max_usd_per_hour"),
        ({"model": "judge", "rubric": "x"}, "rubric"),
    ],
)
def test_a_bad_judge_is_a_422_naming_the_problem(
    setup: ProxyWorld, judge: dict[str, object], named: str
) -> None:
    setup.http.put(
        "/v1/models/no-endpoint", json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0}
    ).raise_for_status()

    response = setup.http.put(
        "/v1/policies/bad-judge", json={"models": ["alpha", "beta"], "judge": judge}
    )

    assert response.status_code in (400, 422), response.text
    assert named in response.json()["detail"]
    assert setup.http.get("/v1/policies/bad-judge").status_code == 404


def test_a_judge_that_is_one_of_the_arms_is_accepted_with_a_warning(setup: ProxyWorld) -> None:
    response = setup.http.put(
        "/v1/policies/self-judged",
        json={"models": ["alpha", "judge"], "judge": {"model": "judge"}},
    )

    assert response.status_code == 201, response.text
    warnings = response.json()["warnings"]
    assert len(warnings) == 1
    assert "judges tend to prefer their own answers" in warnings[0]


def test_with_no_quality_source_failures_alone_teach_nothing(setup: ProxyWorld) -> None:
    """No judge, no default_reward: a model that always fails collects errors (and cools
    down), but no reward is learned from them, so the pmf does not move."""
    setup.http.put(
        "/v1/models/always-fails",
        json={
            "input_usd_per_mtok": 1.0,
            "output_usd_per_mtok": 1.0,
            "endpoint": {
                "api": "openai",
                "base_url": setup.fake.openai_base_url,
                "model": "fail-500#bias",
                "api_key_env": KEY_ENV,
            },
        },
    ).raise_for_status()
    setup.http.put(
        "/v1/policies/unbiased",
        json={
            "models": ["always-fails", "alpha"],
            # Never cooled down here, so that it keeps being chosen and failing.
            "health": {"max_error_rate": 1.0},
        },
    ).raise_for_status()
    before = setup.http.post("/v1/route", json={"policy": "unbiased", "prompt": "x"}).json()

    failed = 0
    for _ in range(12):
        raw = setup.sdk.chat.completions.with_raw_response.create(
            model="router/unbiased", messages=[{"role": "user", "content": "task=code hi"}]
        )
        assert raw.headers["x-bandit-router-model"] == "alpha"  # alpha, or the fallback
        decision = setup.http.get(f"/v1/decisions/{raw.headers['x-bandit-router-decision-id']}")
        failed += decision.json()["fallback_of"] is not None
    assert failed > 0

    time.sleep(1.5)  # a learning round
    status = setup.http.get("/v1/policies/unbiased").json()
    assert status["learner"]["learned_interactions"] == 0
    after = setup.http.post("/v1/route", json={"policy": "unbiased", "prompt": "x"}).json()
    assert after["ranking"] == before["ranking"]
    assert after["policy_version"] == before["policy_version"]


def test_route_api_answers_posted_back_are_judged_too(setup: ProxyWorld) -> None:
    setup.http.put(
        "/v1/policies/route-judged",
        json={
            "models": ["alpha"],
            "store_prompts": True,
            "judge": {"model": "judge", "sample_rate": 1.0},
        },
    ).raise_for_status()
    routed = setup.http.post(
        "/v1/route", json={"policy": "route-judged", "prompt": "task=code sort a list"}
    ).json()
    decision_id = routed["decision_id"]

    posted = setup.http.post(
        f"/v1/decisions/{decision_id}/response", json={"text": "[alpha] sorted(xs)"}
    )
    assert posted.status_code == 201, posted.text

    deadline = time.monotonic() + 10
    while True:
        decision = setup.http.get(f"/v1/decisions/{decision_id}").json()
        judged = [f for f in decision["feedback"] if f["source"] == "judge"]
        if judged or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert decision["judge_probability"] == 1.0
    # alpha's hidden quality on code is 9 (the fake judge moves it by at most 1).
    assert [f["score"] for f in judged] in ([0.8], [0.9], [1.0])
    assert judged[0]["reviewer"] == "judge"
    assert judged[0]["cost_usd"] is None
    assert judged[0]["grading_cost_usd"] > 0
    assert decision["reward"]["quality"] == judged[0]["score"]
