"""Decision export: keyset paging on both backends; DSJSON that Vowpal Wabbit reads as logged."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import vowpalwabbit
from sqlalchemy.ext.asyncio import AsyncEngine

from bandit.errors import InvalidInputError
from bandit.types import Arm, Context, Namespace
from bandit.vw_format import render_example
from domain import DecisionRecord, PolicyConfig, RewardRecord
from storage import _sql
from storage.codec import config_to_json
from storage.decisions import insert_decision
from storage.engine import create_engine
from storage.export import (
    ExportRange,
    dsjson_line,
    export_lines,
    iter_decisions,
    jsonl_line,
)
from storage.migrate import upgrade

ARMS = (
    Arm("alpha", (Namespace("Model", (("alpha", 1.0),)), Namespace("Price", (("tier_1", 1.0),)))),
    Arm("beta", (Namespace("Model", (("beta", 1.0),)), Namespace("Price", (("tier_4", 1.0),)))),
    Arm("gamma", (Namespace("Model", (("gamma", 1.0),)),)),
)


def _decision(
    index: int, rng: random.Random, *, created_at: float, reward: float | None
) -> DecisionRecord:
    weights = [rng.uniform(0.1, 1.0) for _ in ARMS]
    pmf = tuple(w / sum(weights) for w in weights)
    context = Context(
        (
            Namespace("size", ((f"chars_le_{2 ** rng.randrange(4, 9)}", 1.0),)),
            Namespace("text", (("digits", rng.random()), ("code", float(index % 2)))),
        )
    )
    return DecisionRecord(
        id=f"d{index:04d}",
        policy="p",
        policy_revision=1,
        policy_version=index // 4,
        learned_count=index,
        request_hash="h",
        context=context,
        arms=ARMS,
        pmf=pmf,
        chosen_index=rng.randrange(len(ARMS)),
        caller_features={"task": "math" if index % 2 else "chat"},
        prompt_hash=None,
        prompt=None,
        experiment=None,
        created_at=created_at,
        join_status="joined" if reward is not None else "open",
        window_closes_at=None,
        reward=None
        if reward is None
        else RewardRecord(
            seq=index, reward=reward, quality=None, cost_usd=None, latency_ms=None, joined_at=0.0
        ),
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _log(engine: AsyncEngine, decisions: list[DecisionRecord]) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            _sql.policies.insert().values(
                name="p",
                revision=1,
                config=config_to_json(PolicyConfig(models=tuple(a.id for a in ARMS))),
                created_at=0.0,
                updated_at=0.0,
            )
        )
        for decision in decisions:
            assert await insert_decision(connection, decision=decision)
            if decision.reward is not None:
                await connection.execute(
                    _sql.rewards.insert().values(
                        decision_id=decision.id,
                        policy="p",
                        reward=decision.reward.reward,
                        joined_at=1.0,
                    )
                )
                await connection.execute(
                    _sql.feedback.insert().values(
                        id=f"f-{decision.id}",
                        decision_id=decision.id,
                        source="user",
                        score=decision.reward.reward,
                        payload_hash="x",
                        late=False,
                        created_at=decision.created_at + 1,
                    )
                )


async def test_pages_stream_every_decision_in_range_in_creation_order(engine: AsyncEngine) -> None:
    rng = random.Random(7)
    # Many decisions share a timestamp, so the cursor must break ties on the id.
    decisions = [
        _decision(i, rng, created_at=1000.0 + i // 3, reward=None if i % 5 == 0 else rng.random())
        for i in range(23)
    ]
    shuffled = decisions[:]
    rng.shuffle(shuffled)
    await _log(engine, shuffled)

    streamed = [d async for d in iter_decisions(engine, policy="p", page_size=4)]
    assert [d.id for d in streamed] == [d.id for d in decisions]
    assert [d.reward is None for d in streamed] == [d.reward is None for d in decisions]
    assert all(len(d.feedback) == (d.reward is not None) for d in streamed)
    assert streamed[3].context == decisions[3].context
    assert streamed[3].pmf == pytest.approx(decisions[3].pmf)

    window = ExportRange(since=1002.0, until=1005.0)  # created_at in [1002, 1005): i = 6..14
    in_range = [d.id async for d in iter_decisions(engine, policy="p", window=window, page_size=2)]
    assert in_range == [f"d{i:04d}" for i in range(6, 15)]
    assert [d async for d in iter_decisions(engine, policy="other")] == []

    lines = [line async for line in export_lines(engine, policy="p", fmt="dsjson", page_size=5)]
    assert all(line.endswith("\n") for line in lines)
    assert [json.loads(line)["EventId"] for line in lines] == [
        d.id for d in decisions if d.reward is not None
    ]
    everything = [
        json.loads(line)
        async for line in export_lines(engine, policy="p", fmt="dsjson", unlabeled="include")
    ]
    assert len(everything) == len(decisions)
    assert all(
        ("_label_cost" in e) == (d.reward is not None)
        for e, d in zip(everything, decisions, strict=True)
    )
    rows = [json.loads(line) async for line in export_lines(engine, policy="p", fmt="jsonl")]
    assert [r["id"] for r in rows] == [d.id for d in decisions]


def test_range_and_page_size_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="after it ends"):
        ExportRange(since=2.0, until=1.0)
    with pytest.raises(InvalidInputError, match="finite"):
        ExportRange(since=float("nan"))


def test_dsjson_follows_the_decision_service_convention() -> None:
    decision = _decision(1, random.Random(3), created_at=1_700_000_000.25, reward=0.8)
    decision = replace(decision, chosen_index=1)
    line = json.loads(dsjson_line(decision))
    assert line["_label_cost"] == -0.8
    assert line["_label_probability"] == decision.pmf[1]
    assert (line["_label_Action"], line["_labelIndex"]) == (2, 1)
    assert line["a"] == [2, 1, 3]
    assert line["p"] == [decision.pmf[1], decision.pmf[0], decision.pmf[2]]
    assert line["EventId"] == decision.id
    assert line["Timestamp"] == "2023-11-14T22:13:20.250Z"
    assert line["c"]["_multi"][1] == {"Model": {"beta": 1.0}, "Price": {"tier_4": 1.0}}
    assert set(line["c"]) == {"size", "text", "_multi"}
    unlabeled = json.loads(dsjson_line(replace(decision, reward=None)))
    assert not any(key.startswith("_label") for key in unlabeled)

    row = json.loads(jsonl_line(decision))
    assert row["model"] == "beta"
    assert row["propensity"] == decision.pmf[1]
    assert row["candidates"] == ["alpha", "beta", "gamma"]
    assert row["reward"]["reward"] == 0.8
    assert row["features"] == {"task": "math"}


def test_vowpal_wabbit_reads_the_labels_and_learns_exactly_as_from_its_text_format() -> None:
    rng = random.Random(11)
    decisions = [
        _decision(i, rng, created_at=float(i), reward=rng.uniform(-1, 1)) for i in range(60)
    ]
    # Softmax exploration makes the pmf a smooth function of every learned score.
    arguments = (
        "--cb_explore_adf --softmax --lambda 5 --quiet -b 14 --interactions sM --interactions tP"
    )
    from_dsjson = vowpalwabbit.Workspace(arguments + " --dsjson")
    from_text = vowpalwabbit.Workspace(arguments)
    try:
        for decision in decisions:
            assert decision.reward is not None
            examples = from_dsjson.parse(dsjson_line(decision))
            assert len(examples) == 1 + len(ARMS)  # the shared example, then one per model
            labels = [
                [
                    (c.action, c.cost, c.probability)
                    for c in example.get_label(vowpalwabbit.LabelType.CONTEXTUAL_BANDIT).costs
                ]
                for example in examples[1:]
            ]
            chosen = decision.chosen_index
            for index, label in enumerate(labels):
                if index != chosen:
                    assert label == []
                    continue
                [(action, cost, probability)] = label
                assert action == chosen + 1
                assert cost == pytest.approx(-decision.reward.reward, abs=1e-6)
                assert probability == pytest.approx(decision.propensity, abs=1e-6)
            from_dsjson.learn(examples)
            from_dsjson.finish_example(examples)
            from_text.learn(
                render_example(
                    decision.context,
                    decision.arms,
                    (chosen, -decision.reward.reward, decision.propensity),
                )
            )
        # Same features, same hashes, same updates: both workspaces predict the same pmf.
        for decision in decisions[:5]:
            probe = replace(decision, reward=None)
            examples = from_dsjson.parse(dsjson_line(probe))
            via_dsjson = from_dsjson.predict(examples)
            from_dsjson.finish_example(examples)
            via_text = from_text.predict(render_example(probe.context, probe.arms))
            assert via_dsjson == pytest.approx(via_text, abs=1e-6)
            assert max(via_text) - min(via_text) > 0.01  # learned: not the untrained uniform pmf
        # Same hashes, not merely an isomorphic feature set: every weight agrees (up to the
        # last bits, which differ because the text and JSON parsers round numbers differently).
        weights = [from_text.get_weight(i) for i in range(1 << 14)]
        assert [from_dsjson.get_weight(i) for i in range(1 << 14)] == pytest.approx(
            weights, abs=1e-6
        )
        assert sum(w != 0 for w in weights) > 20
    finally:
        from_dsjson.finish()
        from_text.finish()
