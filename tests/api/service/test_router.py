"""RouterService.route with in-memory fakes: no database, no server, no thread.

The committer records what would be written; the learners are a dict; the database is a
stand-in that fails any use, which also proves that a plain route never reads the database
(only a client-chosen decision id or a fallback does).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from api.service.catalog import Catalog
from api.service.live_learner import PolicyLearner, build_learner
from api.service.router import RouteRequest, RouterService
from api.telemetry.sink import DecisionTraced, TelemetryEvent
from bandit.eligibility import Constraints
from bandit.errors import InvalidInputError
from domain import (
    DecisionRecord,
    ExperimentRecord,
    ModelSpec,
    PolicyConfig,
    PolicyRecord,
)
from experiments import ExperimentSpec
from features import Embedder
from storage.writer import GroupCommitter
from tests.clock import FakeClock

MODELS = (ModelSpec("cheap", 0.1, 0.4), ModelSpec("dear", 5.0, 15.0), ModelSpec("new", 1.0, 2.0))


class NoDatabase:
    """Any use is a failure: the path under test must not read the database."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"routing touched the database (engine.{name})")


class RecordingCommitter:
    """The group commit's ``insert``, keeping the rows instead of writing them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    async def insert(self, table: Table, values: dict[str, Any]) -> bool:
        self.rows.append((table.name, values))
        return True


class Learners:
    def __init__(self, *records: PolicyRecord) -> None:
        self._live = {r.name: build_learner(r, None) for r in records}

    def learner(self, policy: str) -> PolicyLearner:
        return self._live[policy]


class Events:
    def __init__(self) -> None:
        self.seen: list[TelemetryEvent] = []

    def emit(self, event: TelemetryEvent) -> None:
        self.seen.append(event)


class NoEmbedder:
    def embed(self, text: str) -> tuple[float, ...]:
        raise AssertionError("no policy here uses the embedding")


def _policy(name: str = "p", **config: Any) -> PolicyRecord:
    settings = PolicyConfig(models=("cheap", "dear"), **config)
    return PolicyRecord(name, revision=1, config=settings, created_at=0.0, updated_at=0.0)


def _router(
    *policies: PolicyRecord,
    experiment: ExperimentRecord | None = None,
    on_candidate: bool = False,
) -> tuple[RouterService, RecordingCommitter, Events]:
    catalog = Catalog()
    for model in MODELS:
        catalog.set_model(model)
    for record in policies:
        catalog.set_policy(record)
    if experiment is not None:
        catalog.experiments[experiment.spec.policy] = experiment
    committer, events = RecordingCommitter(), Events()
    router = RouterService(
        cast(AsyncEngine, NoDatabase()),
        cast(GroupCommitter, committer),
        catalog,
        Learners(*policies),
        FakeClock(),
        prompt_key=b"k" * 32,
        max_candidates=16,
        embedder=cast(Embedder, NoEmbedder()),
        assign=lambda experiment_id, unit, share: on_candidate,
        telemetry=events,
    )
    return router, committer, events


def _logged(committer: RecordingCommitter) -> dict[str, Any]:
    ((table, row),) = committer.rows
    assert table == "decisions"
    return row


async def test_a_route_logs_its_decision_before_answering_and_reads_nothing() -> None:
    router, committer, events = _router(_policy())
    decision = await router.route(RouteRequest(policy="p", prompt="Write a SQL query."))
    row = _logged(committer)
    assert row["id"] == decision.id
    assert row["chosen_model"] == decision.chosen_model in {"cheap", "dear"}
    assert row["propensity"] == decision.propensity == decision.pmf[decision.chosen_index]
    assert sum(decision.pmf) == pytest.approx(1.0)
    assert min(decision.pmf) > 0  # every eligible model stays explorable
    assert [type(e) for e in events.seen] == [DecisionTraced]


async def test_a_running_experiment_splits_and_the_decision_names_its_arm() -> None:
    spec = ExperimentSpec(policy="p", candidate="new")
    experiment = ExperimentRecord("e-1", spec, "running", 0, 0.0, 0.0)
    router, committer, _events = _router(_policy(), experiment=experiment, on_candidate=True)
    decision = await router.route(RouteRequest(policy="p", prompt="x", unit_id="user-7"))
    assert decision.chosen_model == "new"
    assert decision.propensity == pytest.approx(spec.share(0))
    assert decision.experiment is not None
    assert (decision.experiment.id, decision.experiment.arm) == ("e-1", "candidate")
    row = _logged(committer)
    assert row["experiment_arm"] == "candidate"
    # The unit is stored as a keyed hash, never as sent.
    assert row["experiment_unit"] not in (None, "user-7")


async def test_restricting_the_candidates_opts_out_of_the_experiment() -> None:
    spec = ExperimentSpec(policy="p", candidate="new")
    experiment = ExperimentRecord("e-1", spec, "running", 0, 0.0, 0.0)
    router, _committer, _events = _router(_policy(), experiment=experiment, on_candidate=True)
    decision = await router.route(RouteRequest(policy="p", candidates=("cheap", "dear")))
    assert decision.experiment is None
    assert decision.experiment_unit is None
    assert decision.chosen_model in {"cheap", "dear"}


async def test_the_keys_models_tighten_the_policys_and_the_excluded_are_named() -> None:
    router, _committer, _events = _router(_policy())
    decision = await router.route(
        RouteRequest(policy="p", prompt="x", allowed_models=frozenset({"cheap"}))
    )
    assert decision.chosen_model == "cheap"
    assert decision.propensity == 1.0
    assert decision.routing is not None
    assert "dear" in decision.routing.excluded
    assert "API key" in decision.routing.excluded["dear"]


async def test_a_request_limit_is_logged_with_the_decision() -> None:
    router, _committer, _events = _router(_policy())
    decision: DecisionRecord = await router.route(
        RouteRequest(policy="p", prompt="x", constraints=Constraints(max_latency_ms=5_000.0))
    )
    assert decision.routing is not None
    assert decision.routing.constraints == {"max_latency_ms": 5_000.0}


async def test_a_policy_that_learns_escalations_is_not_routed_to() -> None:
    escalations = _policy("p.escalation", escalation_for="p")
    router, committer, _events = _router(_policy(), escalations)
    with pytest.raises(InvalidInputError, match="learns the escalations of policy 'p'"):
        await router.route(RouteRequest(policy="p.escalation", prompt="x"))
    assert committer.rows == []
