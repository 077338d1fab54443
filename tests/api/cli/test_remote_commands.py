"""The remote commands against one real server: tables for people, the service's JSON with
``--json``, the same options before or after the command, the environment as their default,
and no traceback when the reader closes the pipe or the user presses Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.cli import main
from api.cli.options import ENV_KEY, ENV_URL
from api.client import RetryPolicy, RouterClient, RouterError
from tests.server import start_server

POLICY = "cli"
PER_WINDOW = 30


@dataclass(frozen=True)
class Seeded:
    url: str
    key: str
    database_url: str
    workdir: Path
    #: ``--since`` and ``--bucket-seconds`` that put the first batch alone in the first bucket.
    since: float
    bucket_seconds: float
    decision_id: str


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """A server whose policy ``cli`` routed only to ``cli-a`` in a first window and only to
    ``cli-b`` after it (each decision with feedback), so drift has a share change to show."""
    workdir = tmp_path_factory.mktemp("cli")
    database_url = f"sqlite:///{workdir / 'router.db'}"
    server = start_server(database_url, workdir)
    try:
        with server.client() as client:
            for model in ("cli-a", "cli-b"):
                prices = {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
                assert client.put(f"/v1/models/{model}", json=prices).status_code in (200, 201)
            policy = {"models": ["cli-a", "cli-b"]}
            assert client.put(f"/v1/policies/{POLICY}", json=policy).status_code in (200, 201)
            since = time.time()
            _route(client, "cli-a", 0.9)
            middle = time.time()
            decision_id = _route(client, "cli-b", 0.4)
            _until_learned(client, 2 * PER_WINDOW)
        yield Seeded(
            server.url,
            server.admin_key,
            database_url,
            workdir,
            since,
            middle - since,
            decision_id,
        )
    finally:
        server.stop()


def _route(client: httpx.Client, model: str, score: float) -> str:
    decision_id = ""
    for i in range(PER_WINDOW):
        routed = client.post(
            "/v1/route",
            json={"policy": POLICY, "prompt": f"{model} {i}", "candidates": [model]},
        )
        assert routed.status_code == 200, routed.text
        decision_id = routed.json()["decision_id"]
        feedback = {"decision_id": decision_id, "score": score, "cost_usd": 0.001}
        assert client.post("/v1/feedback", json=feedback).status_code in (200, 201)
    return decision_id


def _until_learned(client: httpx.Client, count: int) -> None:
    """Wait until the learner has joined and learned ``count`` rewards (polled)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        learner = client.get(f"/v1/policies/{POLICY}").json()["learner"]
        if learner["learned_interactions"] >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"the learner did not learn {count} rewards within 60 s")


@pytest.fixture
def env(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    """The service named by the environment alone."""
    monkeypatch.setenv(ENV_URL, seeded.url)
    monkeypatch.setenv(ENV_KEY, seeded.key)
    return seeded


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _rows(table: str) -> dict[str, list[str]]:
    """A printed table's data rows by their first cell (split on runs of two spaces)."""
    return {
        cells[0]: cells
        for line in table.splitlines()
        if (cells := [c.strip() for c in line.split("  ") if c.strip()])
    }


def test_drift_table_shows_each_models_share_change_and_its_significance(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--since", str(env.since), "--bucket-seconds", str(env.bucket_seconds)]
    status, out, err = _run(capsys, "drift", POLICY, *window)
    assert status == 0, err
    assert "\x1b" not in out  # plain text: no colour codes in a pipe
    assert f"policy {POLICY}: {2 * PER_WINDOW} decisions" in out
    assert f"reference window: {_utc(env.since)}" in out
    header = next(line for line in out.splitlines() if line.startswith("model "))
    assert header.split() == [
        "model",
        "share",
        "share",
        "ref",
        "share",
        "last",
        "change",
        "p",
        "reward",
        "ref",
        "reward",
        "last",
        "quality",
        "last",
        "flag",
    ]
    rows = _rows(out)
    # cli-a had every decision of the reference window and none of the last one.
    assert rows["cli-a"][1:5] == ["50.0%", "100.0%", "0.0%", "-100.0 pp"]
    assert float(rows["cli-a"][5]) < 0.001
    assert rows["cli-b"][2:5] == ["0.0%", "100.0%", "+100.0 pp"]
    assert rows["cli-a"][6] == "0.900"
    assert rows["cli-b"][7] == "0.400"
    assert len(out) < 4000  # a screen, not the report's JSON


def test_json_prints_exactly_what_the_service_answered(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = _run(capsys, "--json", "experiments", "list")
    assert status == 0
    with httpx.Client(base_url=env.url, headers={"authorization": f"Bearer {env.key}"}) as http:
        assert json.loads(out) == http.get("/v1/experiments").json()
        # (A model, not a policy: a policy's learner counts may move between two reads.)
        assert _run(capsys, "models", "show", "cli-a", "--json")[1] == (
            json.dumps(http.get("/v1/models/cli-a").json(), indent=2) + "\n"
        )
    status, out, _ = _run(capsys, "drift", POLICY, "--json", "--bucket-seconds", "60")
    report = json.loads(out)
    assert (report["policy"], report["decisions"], report["bucket_seconds"]) == (
        POLICY,
        2 * PER_WINDOW,
        60,
    )


@pytest.mark.parametrize(
    "placement",
    [
        pytest.param(["--url", "{url}", "--key", "{key}", "policies", "list"], id="before"),
        pytest.param(["policies", "--url", "{url}", "--key", "{key}", "list"], id="between"),
        pytest.param(["policies", "list", "--url", "{url}", "--key", "{key}"], id="after"),
        pytest.param(["--url", "{url}", "policies", "list", "--key", "{key}"], id="split"),
    ],
)
def test_shared_options_work_before_and_after_the_command(
    seeded: Seeded,
    placement: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The environment names a dead service and a wrong key: the options must win.
    monkeypatch.setenv(ENV_URL, "http://127.0.0.1:9")
    monkeypatch.setenv(ENV_KEY, "wrong")
    argv = [a.format(url=seeded.url, key=seeded.key) for a in placement]
    status, out, err = _run(capsys, *argv)
    assert status == 0, err
    assert _rows(out)[POLICY][3] == "squarecb"


def test_the_environment_names_the_service_and_the_key(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_URL, seeded.url)
    monkeypatch.delenv(ENV_KEY, raising=False)
    status, _, err = _run(capsys, "models", "list")
    assert status == 1
    assert err.startswith("bandit-router models list: ")
    assert "key" in err.lower()  # the service's 401 sentence, not a traceback
    monkeypatch.setenv(ENV_KEY, seeded.key)
    status, out, err = _run(capsys, "models", "list")
    assert status == 0, err
    assert _rows(out)["cli-b"][2:5] == ["1", "2", "active"]


def test_a_shared_option_a_command_does_not_use_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--url", "http://127.0.0.1:8000", "replay", "data.jsonl.gz"])
    assert exited.value.code == 2
    assert "--url does not apply to replay" in capsys.readouterr().err


def test_experiment_tables_and_the_services_refusal(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(
        capsys, "experiments", "create", POLICY, "cli-c", "--max-cost-ratio", "2"
    )
    # cli-c is not in the catalog: the service's detail sentence, exit 1, no traceback.
    assert status == 1
    assert "'cli-c'" in err
    assert "Traceback" not in err
    with httpx.Client(base_url=env.url, headers={"authorization": f"Bearer {env.key}"}) as http:
        prices = {"input_usd_per_mtok": 1, "output_usd_per_mtok": 1}
        assert http.put("/v1/models/cli-c", json=prices).status_code in (200, 201)
    status, out, err = _run(
        capsys, "experiments", "create", POLICY, "cli-c", "--max-cost-ratio", "2"
    )
    assert status == 0, err
    shown = _rows(out)
    experiment_id = shown["id"][1]
    assert shown["status"][1:] == ["running"]
    assert shown["guardrails"][1:] == ["max_cost_ratio 2"]
    status, out, _ = _run(capsys, "experiments", "list", "--policy", POLICY)
    header, _, row = out.splitlines()[:3]
    assert header.split() == [
        "id",
        "policy",
        "candidate",
        "mode",
        "status",
        "stage",
        "share",
        "updated",
        "(UTC)",
    ]
    assert row.split()[:7] == [experiment_id, POLICY, "cli-c", "add", "running", "1/4", "10.0%"]
    status, out, _ = _run(capsys, "experiments", "rollback", experiment_id)
    assert _rows(out)["status"][1:] == ["rolled_back"]
    assert "rollback" in out  # the history table


def test_evaluation_decision_and_version_tables(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "evaluate", POLICY, "--resamples", "5", "--no-counterfactual")
    assert status == 0, err
    assert f"{POLICY}: {2 * PER_WINDOW} rewarded decisions" in out
    rows = _rows(out)
    assert rows["target"][1:] == ["IPS", "SNIPS", "DR", "DR 95% interval", "ESS"]
    assert {"logging policy", "uniform", "only cli-a", "only cli-b"} <= set(rows)
    status, out, err = _run(capsys, "decisions", "show", env.decision_id)
    assert status == 0, err
    rows = _rows(out)
    assert rows["decision"][1] == env.decision_id
    assert rows["model"][1] == "cli-b (probability 1.0000)"
    assert rows["reward"][1].startswith("0.4")  # quality 0.4 at no cost weight
    status, out, err = _run(capsys, "policies", "versions", POLICY)
    assert status == 0, err
    with RouterClient(env.url, env.key) as client:
        listed = client.policy_versions(POLICY)
    rows = _rows(out)
    assert len(rows) == 3 + len(listed.versions)  # title, header, rule, one per version
    for version in listed.versions:
        row = rows[str(version.version)]
        assert (row[-1] == "live") == (version.version == listed.live_version)


def test_keys_tables_on_the_database(seeded: Seeded, capsys: pytest.CaptureFixture[str]) -> None:
    database = ["--database-url", seeded.database_url]
    status, out, err = _run(capsys, *database, "keys", "create", "cli-reader", "--scope", "read")
    assert status == 0, err
    created = _rows(out)
    assert created["scopes"][1:] == ["read"]
    assert "shown only this once" in out
    secret = created["key"][1]
    # The key printed is the key that works (servers refresh their key cache every second).
    deadline = time.monotonic() + 10
    with RouterClient(seeded.url, secret, retry=RetryPolicy(attempts=1)) as client:
        while True:
            try:
                assert client.models()
                break
            except RouterError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    status, out, err = _run(capsys, "keys", "list", *database)
    assert status == 0, err
    assert secret not in out
    row = _rows(out)[created["id"][1]]
    assert row[1:5] == ["cli-reader", "read", "all", "all"]


def test_keys_on_the_service_with_url_and_key(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = ["--url", env.url, "--key", env.key]
    status, out, err = _run(
        capsys, "keys", "create", "cli-remote", "--scope", "read", "--policy", POLICY, *remote
    )
    assert status == 0, err
    created = json.loads(_run(capsys, "keys", "list", "--json", *remote)[1])
    by_name = {k["name"]: k for k in created}
    made = by_name["cli-remote"]
    assert (made["scopes"], made["policies"]) == (["read"], [POLICY])
    # The service made it: its answer has the creation time the database mode does not print.
    assert "created_at" in made
    assert _rows(out)["id"][1] == made["id"]
    status, out, err = _run(capsys, "keys", "revoke", made["id"], *remote, "--json")
    assert status == 0, err
    assert json.loads(out)["revoked_at"] is not None
    # A read key may not manage keys: the service's 403 sentence, exit 1.
    reader = _rows(_run(capsys, "keys", "create", "r", "--scope", "read", *remote)[1])["key"][1]
    status, _, err = _run(capsys, "keys", "list", "--url", env.url, "--key", reader)
    assert status == 1
    assert err.startswith("bandit-router keys list: ")
    assert "admin" in err


def test_keys_refuses_both_a_service_and_a_database(
    env: Seeded, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["keys", "list", "--url", env.url, "--database-url", env.database_url])
    assert "not both" in str(exited.value.code)


def _closed_pipe_run(argv: list[str], env: Seeded) -> subprocess.CompletedProcess[str]:
    """Run the CLI with its standard output a pipe whose reader has already gone, as in
    ``bandit-router ... | head -1`` once head has its line (deterministic: every write fails)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, ENV_URL: env.url, ENV_KEY: env.key},
        )
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["drift", POLICY], id="table"),
        pytest.param(["export", POLICY, "--format", "jsonl"], id="stream"),
    ],
)
def test_a_closed_pipe_ends_quietly(seeded: Seeded, argv: list[str]) -> None:
    completed = _closed_pipe_run(argv, seeded)
    assert "Traceback" not in completed.stderr
    assert completed.stderr == ""
    assert completed.returncode == 141  # as a shell reports SIGPIPE


def test_ctrl_c_ends_quietly_with_status_130(
    env: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(self: RouterClient) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(RouterClient, "policies", interrupted)
    assert _run(capsys, "policies", "list") == (130, "", "")


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
