"""The served OpenAPI document is a typed contract: every success answer has a schema that
names its fields, every guarded operation documents its error answers, every request body
refuses unknown fields; and a client generated from it (openapi-python-client) parses the
real server's answers into its models and back without losing a field."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.server import RunningServer, start_server
from tests.units import balanced_units

#: Response fields that are any JSON value by design: an audit entry's before/after
#: snapshots (a model, a policy or a key, whatever the action changed).
FREE_FORM = frozenset({("AuditEntryOut", "before"), ("AuditEntryOut", "after")})

GUARDED_ERRORS = {"400", "401", "403", "429", "503"}
BODY_ERRORS = {"413", "415", "422"}

GENERATOR_CONFIG = """\
post_hooks: []
project_name_override: bandit_router_generated
package_name_override: bandit_router_generated
content_type_overrides:
  application/x-ndjson: text/plain
"""


# --- the document walker ---------------------------------------------------------------------


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.removeprefix("#/components/schemas/")
    return name, document["components"]["schemas"][name]


def _untyped(
    document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> Iterator[str]:
    """Places under ``schema`` that say nothing about their value: ``{}`` (any JSON) or an
    object without properties whose values are any JSON."""
    name, schema = _resolve(document, schema)
    if name is not None:
        if name in seen:
            return
        seen.add(name)
        where = name
    if not schema:
        yield f"{where}: any JSON value"
        return
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            yield from _untyped(document, option, where, seen)
    if "items" in schema:
        yield from _untyped(document, schema["items"], f"{where}[]", seen)
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties")
    if is_object and not properties and (extra is None or extra is True or extra == {}):
        yield f"{where}: an object with untyped values"
    if isinstance(extra, dict) and extra:
        yield from _untyped(document, extra, f"{where}{{}}", seen)
    for field, value in properties.items():
        if name is not None and (name, field) in FREE_FORM:
            continue
        yield from _untyped(document, value, f"{where}.{field}", seen)


def _open_inputs(
    document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> Iterator[str]:
    """Structs under a request body schema that do not declare unknown fields refused."""
    name, schema = _resolve(document, schema)
    if name is not None:
        if name in seen:
            return
        seen.add(name)
        where = name
    if "properties" in schema and schema.get("additionalProperties") is not False:
        yield f"{where}: additionalProperties is not false"
    for key in ("oneOf", "anyOf", "allOf"):
        for option in schema.get(key, []):
            yield from _open_inputs(document, option, where, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _open_inputs(document, schema[key], f"{where}.{key}", seen)
    for field, value in schema.get("properties", {}).items():
        yield from _open_inputs(document, value, f"{where}.{field}", seen)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "patch", "delete"):
                yield f"{method.upper()} {path}", operation


def contract_problems(document: dict[str, Any]) -> list[str]:
    """Every way ``document`` falls short of a typed contract, as sentences."""
    problems: list[str] = []
    for label, operation in _operations(document):
        for status, response in operation.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            content = response.get("content") or {}
            if not content:
                problems.append(f"{label} {status}: no content schema")
            for media_type, body in content.items():
                if "schema" not in body:
                    problems.append(f"{label} {status} {media_type}: no schema")
                    continue
                problems += [
                    f"{label} {status}: {where}"
                    for where in _untyped(document, body["schema"], "response", set())
                ]
        request = operation.get("requestBody")
        if request is not None:
            for body in request.get("content", {}).values():
                problems += [
                    f"{label} request: {where}"
                    for where in _open_inputs(document, body.get("schema", {}), "body", set())
                ]
    return problems


# --- the server and the documents ------------------------------------------------------------


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("contract")
    server = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def document(running: RunningServer) -> dict[str, Any]:
    response = httpx.get(f"{running.url}/schema/openapi.json", timeout=30)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def test_the_served_document_is_a_typed_contract(document: dict[str, Any]) -> None:
    assert contract_problems(document) == []


def test_the_contract_check_finds_untyped_answers_and_open_inputs() -> None:
    # The check must be able to fail: a bare object answer, an untyped map inside a typed
    # answer, a body without a schema, and an input struct that accepts unknown fields.
    document: dict[str, Any] = {
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"type": "object", "additionalProperties": {}}
                                }
                            }
                        }
                    }
                },
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/In"}}
                        }
                    },
                    "responses": {
                        "201": {
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Out"}}
                            }
                        },
                        "200": {"content": {"application/json": {}}},
                    },
                },
            }
        },
        "components": {
            "schemas": {
                "In": {
                    "type": "object",
                    "properties": {"inner": {"$ref": "#/components/schemas/Open"}},
                    "additionalProperties": False,
                },
                "Open": {"type": "object", "properties": {"z": {"type": "string"}}},
                "Out": {
                    "type": "object",
                    "properties": {
                        "ok": {"type": "string"},
                        "loose": {"type": "object"},
                        "inner": {"$ref": "#/components/schemas/Inner"},
                    },
                },
                "Inner": {"type": "object", "properties": {"y": {}}},
            }
        },
    }
    assert contract_problems(document) == [
        "GET /a 200: response: an object with untyped values",
        "POST /a 201: Out.loose: an object with untyped values",
        "POST /a 201: Inner.y: any JSON value",
        "POST /a 200 application/json: no schema",
        "POST /a request: Open: additionalProperties is not false",
    ]


def test_every_operation_documents_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for label, operation in _operations(document):
        responses = operation["responses"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == error_ref, (
                    label,
                    status,
                )
        if label == "GET /health":
            continue  # open, never shed
        assert set(responses) >= GUARDED_ERRORS, (label, sorted(responses))
        if "requestBody" in operation:
            assert set(responses) >= BODY_ERRORS, (label, sorted(responses))
    paths = document["paths"]
    # The handlers' own answers, beside the guard's.
    assert {"404", "409"} <= set(paths["/v1/policies/{name}"]["put"]["responses"])
    assert {"404", "422"} <= set(paths["/v1/policies/{name}/drift"]["get"]["responses"])
    assert {"404", "409"} <= set(paths["/v1/experiments"]["post"]["responses"])


# --- a generated client against the real server ----------------------------------------------


@pytest.fixture(scope="module")
def generated(
    running: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client openapi-python-client generates from the served document, imported."""
    workdir = tmp_path_factory.mktemp("generated")
    spec = workdir / "openapi.json"
    spec.write_bytes(httpx.get(f"{running.url}/schema/openapi.json", timeout=30).content)
    config = workdir / "config.yaml"
    config.write_text(GENERATOR_CONFIG)
    generator = Path(sys.executable).with_name("openapi-python-client")
    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(workdir / "bandit_router_generated"),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Warnings mean parts of the document were dropped from the client.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module("bandit_router_generated")
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m.split(".")[0] == "bandit_router_generated"]:
            del sys.modules[name]


def _op(generated: ModuleType, module: str) -> Any:
    return importlib.import_module(f"{generated.__name__}.api.{module}")


def _model(generated: ModuleType, name: str) -> Any:
    return getattr(importlib.import_module(f"{generated.__name__}.models"), name)


def _round_trip(answer: Any, status: int, kind: Any) -> Any:
    """The generated call's answer: the documented status, the documented model, and back to
    exactly the JSON the server sent."""
    assert answer.status_code == status, answer.content
    raw = json.loads(answer.content)
    parsed = answer.parsed
    items = parsed if isinstance(parsed, list) else [parsed]
    raws = raw if isinstance(raw, list) else [raw]
    for item, original in zip(items, raws, strict=True):
        assert isinstance(item, kind), (type(item), kind)
        assert item.to_dict() == original
        assert kind.from_dict(original).to_dict() == original
    return parsed


@pytest.fixture
def client(running: RunningServer, generated: ModuleType) -> Iterator[Any]:
    """The generated client, authenticated with the server's admin key."""
    with generated.AuthenticatedClient(
        base_url=running.url, token=running.admin_key, raise_on_unexpected_status=True
    ) as client:
        yield client


def test_a_generated_client_round_trips_real_answers(generated: ModuleType, client: Any) -> None:
    def m(name: str) -> Any:
        return _model(generated, name)

    for model_id in ("gen-a", "gen-b", "gen-new"):
        model = _round_trip(
            _op(generated, "models.v1_models_model_id_put_model").sync_detailed(
                model_id,
                client=client,
                body=m("ModelIn").from_dict(
                    {
                        "input_usd_per_mtok": 1.0,
                        "output_usd_per_mtok": 2.0,
                        "features": {"tier": "small", "context": 8000.0},
                    }
                ),
            ),
            201,
            m("ModelOut"),
        )
        assert model.id == model_id
    _round_trip(
        _op(generated, "models.v1_models_list_models").sync_detailed(client=client),
        200,
        m("ModelOut"),
    )
    policy = _round_trip(
        _op(generated, "policies.v1_policies_name_put_policy").sync_detailed(
            "gen",
            client=client,
            body=m("PolicyIn").from_dict(
                {"models": ["gen-a", "gen-b"], "constraints": {"max_latency_ms": 60000.0}}
            ),
        ),
        201,
        m("PolicyOut"),
    )
    assert policy.models == ["gen-a", "gen-b"]
    _round_trip(
        _op(generated, "policies.v1_policies_name_get_policy").sync_detailed("gen", client=client),
        200,
        m("PolicyOut"),
    )
    experiment = _round_trip(
        _op(generated, "experiments.v1_experiments_create").sync_detailed(
            client=client,
            body=m("ExperimentIn").from_dict(
                {"policy": "gen", "candidate": "gen-new", "min_feedback_per_stage": 5}
            ),
        ),
        201,
        m("ExperimentOut"),
    )
    assert (experiment.status, experiment.share) == ("running", 0.1)

    route = _op(generated, "routing.v1_route_route")
    feedback = _op(generated, "routing.v1_feedback_feedback")
    decisions = []
    for i, unit in enumerate(balanced_units(experiment.id, share=0.1, total=40)):
        routed = _round_trip(
            route.sync_detailed(
                client=client,
                body=m("RouteIn").from_dict(
                    {
                        "policy": "gen",
                        "prompt": f"question {i}",
                        "features": {"task": "code" if i % 2 else "chat"},
                        "unit_id": unit,
                    }
                ),
            ),
            200,
            m("RouteOut"),
        )
        decisions.append(routed.decision_id)
        given = _round_trip(
            feedback.sync_detailed(
                client=client,
                body=m("FeedbackIn").from_dict(
                    {
                        "decision_id": routed.decision_id,
                        "score": (i % 5) / 4,
                        "cost_usd": 0.001,
                        "latency_ms": 120.0,
                        "idempotency_key": f"gen-{i}",
                    }
                ),
            ),
            201,
            m("FeedbackOut"),
        )
        assert given.decision_id == routed.decision_id
    assert any(
        r.experiment is not None
        for r in [
            _op(generated, "routing.v1_decisions_decision_id_decision")
            .sync_detailed(d, client=client)
            .parsed
            for d in decisions
        ]
    )
    decision = _round_trip(
        _op(generated, "routing.v1_decisions_decision_id_decision").sync_detailed(
            decisions[0], client=client
        ),
        200,
        m("DecisionOut"),
    )
    assert decision.feedback[0].score == 0.0
    assert decision.routing.constraints.max_latency_ms == 60000.0

    read = _op(generated, "experiments.v1_experiments_experiment_id_read")
    # The arms count joined feedback; the learner joins it within a second or so.
    deadline = time.monotonic() + 30
    while True:
        report = _round_trip(
            read.sync_detailed(experiment.id, client=client), 200, m("ExperimentReportOut")
        )
        joined = report.arms.candidate.feedback + report.arms.control.feedback
        if joined == 40 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert joined == 40
    assert report.stage_counts.units_candidate == 4
    paused = _round_trip(
        _op(generated, "experiments.v1_experiments_experiment_id_action_act").sync_detailed(
            experiment.id, "pause", client=client
        ),
        200,
        m("ExperimentReportOut"),
    )
    assert paused.status == "paused"
    assert [t.action for t in paused.history][-1] == "pause"
    _round_trip(
        _op(generated, "experiments.v1_experiments_list_experiments").sync_detailed(client=client),
        200,
        m("ExperimentOut"),
    )

    drift = _round_trip(
        _op(generated, "inspection.v1_policies_name_drift_drift").sync_detailed(
            "gen", client=client, bucket_seconds=60.0
        ),
        200,
        m("DriftOut"),
    )
    assert drift.decisions == 40
    assert drift.buckets
    assert sum(b.decisions for b in drift.buckets) == 40
    assert set(drift.groups.additional_properties) == {"code", "chat"}
    evaluation = _round_trip(
        _op(generated, "inspection.v1_policies_name_evaluation_evaluate").sync_detailed(
            "gen", client=client, resamples=20, counterfactual=False
        ),
        200,
        m("EvaluationOut"),
    )
    assert evaluation.decisions == 40

    status = _round_trip(
        _op(generated, "health.v1_status_status").sync_detailed(client=client),
        200,
        m("StatusOut"),
    )
    assert status.role == "learner"
    created = _round_trip(
        _op(generated, "access.v1_keys_create").sync_detailed(
            client=client,
            body=m("KeyIn").from_dict({"name": "gen-reader", "scopes": ["read"]}),
        ),
        201,
        m("CreatedKeyOut"),
    )
    assert created.key
    _round_trip(
        _op(generated, "access.v1_keys_list_keys").sync_detailed(client=client),
        200,
        m("KeyOut"),
    )
    _round_trip(
        _op(generated, "access.v1_keys_key_id_revoke").sync_detailed(created.id, client=client),
        200,
        m("KeyOut"),
    )
    _round_trip(
        _op(generated, "access.v1_audit_audit").sync_detailed(client=client),
        200,
        m("AuditEntryOut"),
    )
    versions = _round_trip(
        _op(generated, "undo.v1_policies_name_versions_versions").sync_detailed(
            "gen", client=client
        ),
        200,
        m("VersionsOut"),
    )
    assert versions.policy == "gen"

    # Error answers parse into the one error model, with the service's sentence.
    missing = _op(generated, "routing.v1_decisions_decision_id_decision").sync_detailed(
        "no-such-decision", client=client
    )
    assert missing.status_code == 404
    assert isinstance(missing.parsed, m("ErrorOut"))
    assert "no-such-decision" in missing.parsed.detail

    exported = _op(generated, "export.v1_policies_name_export_export").sync_detailed(
        "gen", client=client, format_="jsonl"
    )
    assert exported.status_code == 200
    lines = [json.loads(line) for line in exported.parsed.splitlines()]
    assert len(lines) == 40
