"""API keys over HTTP and the CLI: lifecycle, expiry, revocation, rate limits, bootstrap."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server import start_server


def _as(client: httpx.Client, key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_key_lifecycle_create_use_list_revoke(client: httpx.Client) -> None:
    created = client.post("/v1/keys", json={"name": "app", "scopes": ["route"]})
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    key_id = created.json()["id"]
    listed = client.get("/v1/keys")
    assert listed.status_code == 200
    assert secret not in listed.text
    assert key_id in {k["id"] for k in listed.json()}
    assert client.post("/v1/route", json={}, headers=_as(client, secret)).status_code == 200
    forbidden = client.get("/v1/policies", headers=_as(client, secret))
    assert forbidden.status_code == 403
    assert "needs (read)" in forbidden.json()["detail"]
    revoked = client.delete(f"/v1/keys/{key_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = client.post("/v1/route", json={}, headers=_as(client, secret))
    assert after.status_code == 401
    assert "revoked" in after.json()["detail"]
    assert after.headers["www-authenticate"] == "Bearer"
    assert client.delete(f"/v1/keys/{key_id}").status_code == 200  # idempotent
    assert client.delete("/v1/keys/key_unknown").status_code == 404
    audit = client.get("/v1/audit").json()
    mine = [e for e in audit if e["target"] == key_id]
    assert [e["action"] for e in mine] == ["key.revoke", "key.create"]
    assert {e["key_id"] for e in mine} == {"env-admin"}
    assert mine[0]["before"]["revoked_at"] is None
    assert mine[0]["after"]["revoked_at"] is not None


def test_invalid_keys_and_bodies_are_refused(client: httpx.Client) -> None:
    bad = [
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "x", "scopes": ["read"], "policies": []},
        {"name": "x", "scopes": ["read"], "policies": ["no-such-policy"]},
        {"name": "x", "scopes": ["read"], "expires_at": 1.0},
        {"name": "x", "scopes": ["read"], "rate_per_second": 0},
        {"name": "", "scopes": ["read"]},
    ]
    for body in bad:
        answer = client.post("/v1/keys", json=body)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert answer.json()["detail"].endswith(".")


def test_a_key_expires(client: httpx.Client) -> None:
    created = client.post(
        "/v1/keys", json={"name": "brief", "scopes": ["route"], "expires_at": time.time() + 1.0}
    ).json()
    assert client.post("/v1/route", json={}, headers=_as(client, created["key"])).status_code == 200
    time.sleep(1.2)
    expired = client.post("/v1/route", json={}, headers=_as(client, created["key"]))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_rate_limits_apply_per_key_but_never_to_the_environment_admin_key(
    client: httpx.Client,
) -> None:
    created = client.post(
        "/v1/keys", json={"name": "slow", "scopes": ["route"], "rate_per_second": 0.5}
    ).json()
    headers = _as(client, created["key"])
    assert client.post("/v1/route", json={}, headers=headers).status_code == 200
    limited = client.post("/v1/route", json={}, headers=headers)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 2
    assert "0.5 requests per second" in limited.json()["detail"]
    for _ in range(30):
        assert client.post("/v1/route", json={}).status_code == 200


def test_bodies_must_be_json(client: httpx.Client) -> None:
    body = b'{"policy": "default"}'
    for headers in (
        {"content-type": "text/plain"},
        {},
        {"content-type": "application/x-www-form-urlencoded"},
    ):
        answer = client.post("/v1/route", content=body, headers=headers)
        assert answer.status_code == 415, answer.text
        assert "application/json" in answer.json()["detail"]
    ok = client.post(
        "/v1/route", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert ok.status_code == 200


def test_admin_changes_are_audited_with_before_and_after(client: httpx.Client) -> None:
    prices = {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
    assert client.put("/v1/models/audited", json=prices).status_code in (200, 201)
    changed = {**prices, "output_usd_per_mtok": 3.0}
    assert client.put("/v1/models/audited", json=changed).status_code == 200
    entries = [e for e in client.get("/v1/audit").json() if e["target"] == "audited"]
    assert [e["action"] for e in entries[:2]] == ["model.put", "model.put"]
    newest, first = entries[0], entries[1]
    assert first["before"] is None
    assert newest["before"]["output_usd_per_mtok"] == 2.0
    assert newest["after"]["output_usd_per_mtok"] == 3.0
    page = client.get("/v1/audit", params={"limit": 1, "before": newest["seq"]}).json()
    assert [e["seq"] for e in page] == [first["seq"]]


def test_health_says_only_ok_and_status_needs_a_read_key(client: httpx.Client) -> None:
    assert httpx.get(client.base_url.join("/health"), timeout=10).json() == {"status": "ok"}
    assert httpx.get(client.base_url.join("/v1/status"), timeout=10).status_code == 401
    status = client.get("/v1/status").json()
    assert status["status"] == "ok"
    assert status["problems"] == []


def _cli(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "keys", "--database-url", database_url, "--json", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
    )


def _until(predicate: object, seconds: float) -> float:
    """Seconds until ``predicate()`` held; fails after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def test_bootstrap_key_file_and_cli_changes_in_force_within_a_second(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'data' / 'router.db'}"
    server = start_server(database_url, tmp_path, env={"BANDIT_ROUTER_ADMIN_KEY": ""})
    key_file = tmp_path / "data" / "admin.key"
    try:
        assert "created an admin API key" in server.log()
        assert str(key_file) in server.log()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        admin = key_file.read_text().strip()
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {admin}"}) as c:
            assert c.get("/v1/keys").status_code == 200
            created = _cli(
                "create", "from-cli", "--scope", "read", database_url=database_url, cwd=tmp_path
            )
            assert created.returncode == 0, created.stderr
            made = json.loads(created.stdout)
            headers = {"authorization": f"Bearer {made['key']}"}

            def works() -> bool:
                return c.get("/v1/policies", headers=headers).status_code == 200

            assert _until(works, 1.5) <= 1.5
            revoked = _cli("revoke", made["id"], database_url=database_url, cwd=tmp_path)
            assert revoked.returncode == 0, revoked.stderr
            _until(lambda: c.get("/v1/policies", headers=headers).status_code == 401, 1.5)
            listed = _cli("list", database_url=database_url, cwd=tmp_path)
            assert made["key"] not in listed.stdout
            assert {k["name"] for k in json.loads(listed.stdout)} == {"bootstrap admin", "from-cli"}
    finally:
        server.stop()
    restarted = start_server(database_url, tmp_path, env={"BANDIT_ROUTER_ADMIN_KEY": ""})
    try:
        assert key_file.read_text().strip() == admin  # keys exist: no new bootstrap key
        assert "created an admin API key" not in restarted.log()
    finally:
        restarted.stop()
