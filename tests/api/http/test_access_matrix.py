"""Every endpoint x every scope x own/other policy, built from the app's own route table.

A new endpoint without an access rule, or without an example here, fails this test: access
is part of every endpoint's definition, not an afterthought.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.handlers import HTTPRouteHandler

from api.app import create_app
from api.http.access import handler_scopes
from api.settings import Settings
from domain import SCOPES, Scope
from tests.server import RunningServer, start_server

OWN, OTHER = "tenant-own", "tenant-other"


@dataclass(frozen=True)
class World:
    """Ids of things that exist in each policy."""

    decision: dict[str, str]
    experiment: dict[str, str]
    feedback: dict[str, str]


#: ``(method, path template) -> (policy bound, build(policy, world) -> (path, json body))``.
Example = tuple[bool, Callable[[str, World], tuple[str, Any]]]
EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/v1/route"): (True, lambda p, w: ("/v1/route", {"policy": p})),
    # The matrix's models have no endpoint: the allowed answer is a 422 saying so.
    ("POST", "/v1/chat/completions"): (
        True,
        lambda p, w: (
            "/v1/chat/completions",
            {"model": f"router/{p}", "messages": [{"role": "user", "content": "Hi"}]},
        ),
    ),
    ("POST", "/v1/feedback"): (
        True,
        lambda p, w: ("/v1/feedback", {"decision_id": w.decision[p], "score": 0.5}),
    ),
    ("GET", "/v1/decisions/{decision_id:str}"): (
        True,
        lambda p, w: (f"/v1/decisions/{w.decision[p]}", None),
    ),
    ("GET", "/v1/models"): (False, lambda p, w: ("/v1/models", None)),
    ("GET", "/v1/models/{model_id:str}"): (False, lambda p, w: (f"/v1/models/{p}-a", None)),
    ("PUT", "/v1/models/{model_id:str}"): (
        False,
        lambda p, w: (
            f"/v1/models/{p}-a",
            {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
        ),
    ),
    ("GET", "/v1/policies"): (False, lambda p, w: ("/v1/policies", None)),
    ("GET", "/v1/policies/{name:str}"): (True, lambda p, w: (f"/v1/policies/{p}", None)),
    ("PUT", "/v1/policies/{name:str}"): (
        True,
        lambda p, w: (f"/v1/policies/{p}", {"models": [f"{p}-a", f"{p}-b"]}),
    ),
    ("GET", "/v1/policies/{name:str}/drift"): (
        True,
        lambda p, w: (f"/v1/policies/{p}/drift", None),
    ),
    ("GET", "/v1/policies/{name:str}/evaluation"): (
        True,
        lambda p, w: (f"/v1/policies/{p}/evaluation?resamples=5&counterfactual=false", None),
    ),
    ("GET", "/v1/policies/{name:str}/export"): (
        True,
        lambda p, w: (f"/v1/policies/{p}/export", None),
    ),
    ("GET", "/v1/experiments"): (False, lambda p, w: ("/v1/experiments", None)),
    ("POST", "/v1/experiments"): (
        True,
        lambda p, w: ("/v1/experiments", {"policy": p, "candidate": f"{p}-new"}),
    ),
    ("GET", "/v1/experiments/{experiment_id:str}"): (
        True,
        lambda p, w: (f"/v1/experiments/{w.experiment[p]}", None),
    ),
    ("POST", "/v1/experiments/{experiment_id:str}/{action:str}"): (
        True,
        lambda p, w: (f"/v1/experiments/{w.experiment[p]}/resume", None),
    ),
    ("GET", "/v1/policies/{name:str}/versions"): (
        True,
        lambda p, w: (f"/v1/policies/{p}/versions", None),
    ),
    ("POST", "/v1/policies/{name:str}/rollback"): (
        True,
        lambda p, w: (f"/v1/policies/{p}/rollback", {"version": 10**9}),
    ),
    ("POST", "/v1/feedback/{feedback_id:str}/void"): (
        True,
        lambda p, w: (f"/v1/feedback/{w.feedback[p]}/void", {"reason": "matrix"}),
    ),
    ("GET", "/v1/keys"): (False, lambda p, w: ("/v1/keys", None)),
    ("POST", "/v1/keys"): (
        False,
        lambda p, w: ("/v1/keys", {"name": "made-in-matrix", "scopes": ["read"]}),
    ),
    ("DELETE", "/v1/keys/{key_id:str}"): (False, lambda p, w: ("/v1/keys/key_missing", None)),
    ("GET", "/v1/audit"): (False, lambda p, w: ("/v1/audit", None)),
    ("GET", "/v1/status"): (False, lambda p, w: ("/v1/status", None)),
    ("GET", "/v1/review/queue"): (True, lambda p, w: (f"/v1/review/queue?policy={p}", None)),
    # The matrix's policies keep no prompts: the allowed answer is a 409 saying so.
    ("POST", "/v1/decisions/{decision_id:str}/response"): (
        True,
        lambda p, w: (f"/v1/decisions/{w.decision[p]}/response", {"text": "An answer."}),
    ),
}

#: The access policy, written out: which scopes each endpoint accepts (admin always does).
EXPECTED_SCOPES: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/route"): {"route"},
    ("POST", "/v1/chat/completions"): {"route"},
    ("POST", "/v1/feedback"): {"feedback", "review"},
    ("GET", "/v1/decisions/{decision_id:str}"): {"read", "review"},
    **{
        key: {"read"}
        for key in EXAMPLES
        if key[0] == "GET"
        and not key[1].startswith(("/v1/keys", "/v1/audit"))
        and key[1] != "/v1/decisions/{decision_id:str}"
    },
    **{
        key: {"admin"}
        for key in EXAMPLES
        if (key[0] != "GET" and key[1] not in ("/v1/route", "/v1/chat/completions", "/v1/feedback"))
        or key[1].startswith(("/v1/keys", "/v1/audit"))
    },
    ("GET", "/v1/review/queue"): {"review"},
    ("POST", "/v1/decisions/{decision_id:str}/response"): {"route"},
}

#: Endpoints that change what every policy shares, so a policy-limited key may not call them.
NEEDS_UNLIMITED = {
    ("PUT", "/v1/models/{model_id:str}"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/{key_id:str}"),
    ("GET", "/v1/audit"),
}


def _route_table() -> list[tuple[str, str, tuple[Scope, ...], bool]]:
    """``(method, path, scopes, public)`` of every HTTP handler the app serves."""
    app = create_app(Settings(database_url="sqlite:///unused.db"))
    table: list[tuple[str, str, tuple[Scope, ...], bool]] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                table.append(
                    (method, route.path, handler_scopes(handler), bool(handler.opt.get("public")))
                )
    return table


ROUTES = _route_table()
# Sorted: the app lists a path's methods from a set, and every pytest-xdist worker must
# collect the same tests in the same order.
V1 = sorted((m, p, s) for m, p, s, _ in ROUTES if p.startswith("/v1"))


def test_every_endpoint_has_an_access_rule_and_an_example() -> None:
    for method, path, scopes, public in ROUTES:
        if path.startswith("/schema"):
            continue
        assert scopes or public, f"{method} {path} declares no scopes and is not public"
        assert not (path.startswith("/v1") and public), f"{method} {path} is public"
        if path.startswith("/v1"):
            assert (method, path) in EXAMPLES, f"add an access example for {method} {path}"
    assert {(m, p) for m, p, _ in V1} == set(EXAMPLES), "stale examples"
    for method, path, scopes in V1:
        assert set(scopes) == EXPECTED_SCOPES[method, path], f"{method} {path}: {scopes}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("access")
    running = start_server(f"sqlite:///{workdir / 'router.db'}", workdir)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    decision, experiment, feedback = {}, {}, {}
    with server.client() as admin:
        for policy in (OWN, OTHER):
            for model in ("a", "b", "new"):
                admin.put(
                    f"/v1/models/{policy}-{model}",
                    json={"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
                ).raise_for_status()
            admin.put(
                f"/v1/policies/{policy}", json={"models": [f"{policy}-a", f"{policy}-b"]}
            ).raise_for_status()
            routed = admin.post("/v1/route", json={"policy": policy})
            decision[policy] = routed.raise_for_status().json()["decision_id"]
            scored = admin.post("/v1/feedback", json={"decision_id": decision[policy], "score": 1})
            feedback[policy] = scored.raise_for_status().json()["feedback_id"]
            created = admin.post(
                "/v1/experiments", json={"policy": policy, "candidate": f"{policy}-new"}
            )
            experiment[policy] = created.raise_for_status().json()["id"]
    return World(decision, experiment, feedback)


@pytest.fixture(scope="module")
def keys(server: RunningServer, world: World) -> dict[tuple[Scope, bool], str]:
    """A key per scope, unlimited (False) and limited to OWN (True)."""
    made = {}
    with server.client() as admin:
        for scope in SCOPES:
            for limited in (False, True):
                body = {
                    "name": f"{scope}-{'own' if limited else 'all'}",
                    "scopes": [scope],
                    "policies": [OWN] if limited else None,
                }
                created = admin.post("/v1/keys", json=body)
                made[scope, limited] = created.raise_for_status().json()["key"]
    return made


def _call(
    server: RunningServer, method: str, path: str, body: Any, key: str | None
) -> httpx.Response:
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=60)


@pytest.mark.parametrize(("method", "path", "scopes"), V1, ids=[f"{m} {p}" for m, p, _ in V1])
def test_access_matrix(
    server: RunningServer,
    world: World,
    keys: dict[tuple[Scope, bool], str],
    method: str,
    path: str,
    scopes: tuple[Scope, ...],
) -> None:
    bound, build = EXAMPLES[method, path]
    url, body = build(OWN, world)
    assert _call(server, method, url, body, None).status_code == 401
    assert _call(server, method, url, body, "br_not-a-key").status_code == 401
    for scope in SCOPES:
        answer = _call(server, method, url, body, keys[scope, False])
        allowed = scope in scopes or scope == "admin"
        if allowed:
            assert answer.status_code not in (401, 403), (scope, answer.text)
        else:
            assert answer.status_code == 403, (scope, answer.text)
            assert scope in answer.json()["detail"]
    # A key limited to OWN, with the scope the endpoint needs.
    tenant = keys[scopes[0], True]
    own = _call(server, method, url, body, tenant)
    if (method, path) in NEEDS_UNLIMITED:
        assert own.status_code == 403, own.text
        return
    assert own.status_code not in (401, 403), own.text
    # A 404 on the key's own policy may only be about the example (a version it never had),
    # never the answer that hides another tenant's things.
    assert own.status_code != 404 or "does not exist" not in own.json()["detail"], own.text
    if bound:
        other_url, other_body = build(OTHER, world)
        other = _call(server, method, other_url, other_body, tenant)
        assert other.status_code == 404, other.text
        assert OTHER not in other.text or "does not exist" in other.json()["detail"]


def test_tenant_listings_show_only_its_own_policies(
    server: RunningServer, keys: dict[tuple[Scope, bool], str]
) -> None:
    tenant = keys["read", True]
    policies = _call(server, "GET", "/v1/policies", None, tenant).json()
    assert [p["name"] for p in policies] == [OWN]
    experiments = _call(server, "GET", "/v1/experiments", None, tenant).json()
    assert {e["policy"] for e in experiments} == {OWN}


def test_open_paths_need_no_key(server: RunningServer) -> None:
    health = httpx.get(server.url + "/health", timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert httpx.get(server.url + "/schema/openapi.json", timeout=10).status_code == 200
    assert httpx.get(server.url + "/dashboard", timeout=10).status_code == 200
    assert httpx.get(server.url + "/review", timeout=10).status_code == 200


def test_a_tenant_sees_no_other_policy_in_status_and_metrics(
    server: RunningServer, keys: dict[tuple[Scope, bool], str]
) -> None:
    """Issue 21: a key limited to OWN read every policy's name and learned count in
    /v1/status and per-policy, per-model traffic in /metrics."""
    tenant, everyone = keys["read", True], keys["read", False]
    status = _call(server, "GET", "/v1/status", None, tenant).json()
    assert set(status["learned_by_policy"]) == {OWN}
    assert status["policies"] == 1
    assert OTHER not in json.dumps(status)
    metrics = _call(server, "GET", "/metrics", None, tenant).text
    assert f'policy="{OWN}"' in metrics
    assert OTHER not in metrics
    # An unlimited key still sees every policy.
    assert f'policy="{OTHER}"' in _call(server, "GET", "/metrics", None, everyone).text


def test_fallback_of_another_tenants_decision_reads_as_a_missing_one(
    server: RunningServer, world: World, keys: dict[tuple[Scope, bool], str]
) -> None:
    tenant = keys["route", True]
    theirs = _call(
        server,
        "POST",
        "/v1/route",
        {"policy": OWN, "fallback_of": world.decision[OTHER]},
        tenant,
    )
    missing = _call(
        server, "POST", "/v1/route", {"policy": OWN, "fallback_of": "no-such-decision"}, tenant
    )
    assert theirs.status_code == missing.status_code == 404
    assert OTHER not in theirs.text
    assert theirs.json()["detail"].replace(world.decision[OTHER], "X") == missing.json()[
        "detail"
    ].replace("no-such-decision", "X")


def test_a_tenant_chooses_decision_ids_in_its_own_namespace_only(
    server: RunningServer, world: World, keys: dict[tuple[Scope, bool], str]
) -> None:
    """Issue 21: a client-chosen decision_id already used by another tenant answered 409
    (an unused one 200), telling that it exists. A limited key's ids start with its
    policy's name, so another tenant's ids are out of its reach and every answer is the same."""
    tenant = keys["route", True]

    def route(decision_id: str) -> httpx.Response:
        body = {"policy": OWN, "decision_id": decision_id}
        return _call(server, "POST", "/v1/route", body, tenant)

    taken, unused = route(world.decision[OTHER]), route("never-used-anywhere")
    assert taken.status_code == unused.status_code == 422
    assert f"'{OWN}:" in taken.json()["detail"]
    own = route(f"{OWN}:mine-1")
    assert own.status_code == 200, own.text
    assert own.json()["decision_id"] == f"{OWN}:mine-1"
    assert route(f"{OWN}:mine-1").json()["decision_id"] == f"{OWN}:mine-1"  # a retry
