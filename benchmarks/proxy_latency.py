"""The proxy's added latency: bandit-router and LiteLLM's proxy in front of the same fake
provider, against calling the fake directly, measured side by side in one run.

    PYTHONPATH=. /work/main/.venv/bin/python benchmarks/proxy_latency.py \
        --litellm /work/litellm-venv/bin/litellm --rounds 5 --requests 200

Starts the fake OpenAI-compatible provider (``tests/proxy_fake.py``, which answers at once)
in its own process, the real ``bandit-router serve`` on a fresh SQLite file (a policy of
three models with endpoints at the fake, SquareCB, so every request is a logged decision, a
provider call and a feedback), and, when ``--litellm`` names its binary, LiteLLM's proxy
(installed in a separate virtualenv: ``python3 -m venv /work/litellm-venv &&
/work/litellm-venv/bin/pip install 'litellm[proxy]'``) with one model at the same fake.
Then ``--rounds`` times, alternating between the targets, it sends ``--requests``
sequential non-streamed chat completions over one keep-alive connection per target and
takes each target's p50 and p99. The added latency of a proxy is its percentile less the
direct call's in the same round; the table gives the medians over the rounds. The machine
is shared: read the differences measured in the same run, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.server import start_server

_FAKE_URL = re.compile(rb"fake providers on (http://\S+)")
_BODY = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    "max_tokens": 16,
}
LITELLM_KEY = "sk-" + secrets.token_hex(16)
_LITELLM_CONFIG = """\
model_list:
  - model_name: fake
    litellm_params:
      model: openai/ok
      api_base: {base}
      api_key: sk-fake
litellm_settings:
  telemetry: false
"""


@contextmanager
def _fake(workdir: Path) -> Iterator[str]:
    log = workdir / "fake.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.proxy_fake"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield _wait_for(log, _FAKE_URL, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def _litellm(binary: str, base: str, workdir: Path) -> Iterator[str]:
    config = workdir / "litellm.yaml"
    config.write_text(_LITELLM_CONFIG.format(base=base))
    port = _free_port()
    log = workdir / "litellm.log"
    environment = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # Both proxies check a bearer key on every request; LiteLLM's is this master key.
        "LITELLM_MASTER_KEY": LITELLM_KEY,
        "PYTHONPATH": "",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the binary the operator named
            [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"litellm exited:\n{log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/health/liveliness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"litellm did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(log: Path, pattern: re.Pattern[bytes], process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited:\n{log.read_text(errors='replace')}")
        found = pattern.search(log.read_bytes())
        if found is not None:
            return found.group(1).decode()
        time.sleep(0.05)
    raise RuntimeError(f"did not start:\n{log.read_text(errors='replace')}")


def _router_setup(url: str, key: str, base: str) -> None:
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {key}"}) as http:
        for name in ("bench-a", "bench-b", "bench-c"):
            response = http.put(
                f"/v1/models/{name}",
                json={
                    "input_usd_per_mtok": 1.0,
                    "output_usd_per_mtok": 2.0,
                    "endpoint": {"api": "openai", "base_url": base, "model": "ok"},
                },
            )
            response.raise_for_status()
        response = http.put(
            "/v1/policies/bench", json={"models": ["bench-a", "bench-b", "bench-c"]}
        )
        response.raise_for_status()


def _chat(model: str) -> dict[str, object]:
    return {**_BODY, "model": model}


def _measure(client: httpx.Client, path: str, body: dict[str, object], count: int) -> list[float]:
    """Milliseconds of ``count`` sequential calls, each answered 200."""
    times: list[float] = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.post(path, json=body)
        elapsed = (time.perf_counter() - began) * 1000.0
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text}")
        times.append(elapsed)
    return times


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="per target and round")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--litellm", default="", help="path of the litellm binary (its column is skipped if absent)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _fake(Path(tmp)) as fake_url:
        workdir = Path(tmp)
        base = f"{fake_url}/v1"
        server = start_server(
            f"sqlite:///{workdir / 'router.db'}",
            workdir,
            env={"BANDIT_ROUTER_PROVIDER_KEY_ENVS": ""},
        )
        try:
            _router_setup(server.url, server.admin_key, base)
            router = server.client()
            targets: dict[str, tuple[httpx.Client, str, dict[str, object]]] = {
                "direct": (httpx.Client(base_url=base), "/chat/completions", _chat("ok")),
                "bandit-router": (router, "/v1/chat/completions", _chat("router/bench")),
                # Not a proxy: the decision alone (logged durably), to show what the rest is.
                "bandit-router /v1/route only": (
                    router,
                    "/v1/route",
                    {"policy": "bench", "prompt": "Be brief.\nWhat is the capital of France?"},
                ),
            }
            litellm_binary = args.litellm and Path(args.litellm)
            with _maybe_litellm(litellm_binary, base, workdir) as litellm_url:
                if litellm_url is not None:
                    targets["litellm"] = (
                        httpx.Client(
                            base_url=litellm_url,
                            timeout=30,
                            headers={"authorization": f"Bearer {LITELLM_KEY}"},
                        ),
                        "/v1/chat/completions",
                        _chat("fake"),
                    )
                _run(targets, args.rounds, args.requests, args.warmup)
        finally:
            server.stop()


@contextmanager
def _maybe_litellm(binary: Path | str, base: str, workdir: Path) -> Iterator[str | None]:
    if not binary or not Path(binary).exists():
        shown = binary or "no --litellm"
        print(f"note: LiteLLM's column is skipped ({shown}: not found).", flush=True)
        yield None
        return
    with _litellm(str(binary), base, workdir) as url:
        yield url


def _run(
    targets: dict[str, tuple[httpx.Client, str, dict[str, object]]],
    rounds: int,
    requests: int,
    warmup: int,
) -> None:
    for client, path, body in targets.values():
        _measure(client, path, body, warmup)
    added: dict[str, dict[str, list[float]]] = {
        name: {"p50": [], "p99": []} for name in targets if name != "direct"
    }
    direct_p: dict[str, list[float]] = {"p50": [], "p99": []}
    for number in range(1, rounds + 1):
        measured = {
            name: _measure(client, path, body, requests)
            for name, (client, path, body) in targets.items()
        }
        base50 = _percentile(measured["direct"], 0.50)
        base99 = _percentile(measured["direct"], 0.99)
        direct_p["p50"].append(base50)
        direct_p["p99"].append(base99)
        line = f"round {number}: direct p50 {base50:.2f} ms p99 {base99:.2f} ms"
        for name in added:
            p50 = _percentile(measured[name], 0.50) - base50
            p99 = _percentile(measured[name], 0.99) - base99
            added[name]["p50"].append(p50)
            added[name]["p99"].append(p99)
            line += f" | {name} +{p50:.2f} / +{p99:.2f} ms"
        print(line, flush=True)
    print(f"\nmedians over {rounds} rounds of {requests} sequential requests per target:")
    print("| target | p50 (ms) | p99 (ms) | added p50 (ms) | added p99 (ms) |")
    print("|---|---|---|---|---|")
    d50, d99 = statistics.median(direct_p["p50"]), statistics.median(direct_p["p99"])
    print(f"| fake provider, direct | {d50:.2f} | {d99:.2f} | - | - |")
    for name, values in added.items():
        a50, a99 = statistics.median(values["p50"]), statistics.median(values["p99"])
        shown = name if "only" in name else f"{name} in front"
        print(f"| {shown} | {d50 + a50:.2f} | {d99 + a99:.2f} | {a50:.2f} | {a99:.2f} |")
    for client, _, _ in targets.values():
        client.close()


if __name__ == "__main__":
    main()
