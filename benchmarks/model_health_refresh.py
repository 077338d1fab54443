"""How long one model-health refresh takes on a busy log, on SQLite and PostgreSQL.

    PYTHONPATH=. .venv/bin/python benchmarks/model_health_refresh.py --feedback 200000
    PYTHONPATH=. .venv/bin/python benchmarks/model_health_refresh.py --postgres URL

Writes ``--feedback`` decisions, each with one feedback (latency, output tokens, every tenth an
error), spread evenly over the last ``--hours`` across ``--models`` models, into a fresh
database; then times ``call_outcomes`` (the per-second health count over a 60 s window) and
``model_usage`` (latency and output length over the last hour, at most 1,000 per model),
median of ``--repeat`` runs each. A refresh runs once a second in every server process.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from domain import PolicyConfig
from storage import _sql
from storage.codec import config_to_json
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.model_stats import call_outcomes, model_usage

NOW = 1_700_000_000.0


async def fill(engine: AsyncEngine, *, feedback: int, models: int, hours: float) -> None:
    rng = random.Random(0)  # noqa: S311 - synthetic latencies, seeded
    names = [f"model-{i}" for i in range(models)]
    async with engine.begin() as connection:
        await connection.execute(
            _sql.policies.insert().values(
                name="p",
                revision=1,
                config=config_to_json(PolicyConfig(models=tuple(names))),
                created_at=0.0,
                updated_at=0.0,
            )
        )
    span = hours * 3600.0
    batch = 5000
    for start in range(0, feedback, batch):
        decisions, reports = [], []
        for index in range(start, min(start + batch, feedback)):
            at = NOW - span + span * index / feedback
            model = names[index % models]
            decisions.append(
                {
                    "id": f"d{index}",
                    "policy": "p",
                    "policy_revision": 1,
                    "policy_version": 0,
                    "learned_count": 0,
                    "request_hash": "h",
                    "context": [],
                    "arms": [{"id": m, "namespaces": []} for m in names],
                    "pmf": [1 / models] * models,
                    "chosen_index": index % models,
                    "chosen_model": model,
                    "propensity": 1 / models,
                    "caller_features": {},
                    "created_at": at,
                    "join_status": "joined",
                }
            )
            reports.append(
                {
                    "id": f"f{index}",
                    "decision_id": f"d{index}",
                    "source": "app",
                    "latency_ms": rng.lognormvariate(6.5, 0.5),
                    "output_tokens": rng.randrange(50, 800),
                    "error": "429 rate limited" if index % 10 == 0 else None,
                    "payload_hash": "x",
                    "late": False,
                    "created_at": at + 1.0,
                }
            )
        async with engine.begin() as connection:
            await connection.execute(_sql.decisions.insert(), decisions)
            await connection.execute(_sql.feedback.insert(), reports)


async def timed(engine: AsyncEngine, repeat: int) -> tuple[float, float, int]:
    health, usage = [], []
    rows = 0
    for _ in range(repeat):
        async with engine.connect() as connection:
            began = time.perf_counter()
            found = await call_outcomes(connection, since=NOW - 60.0, until=NOW)
            health.append(time.perf_counter() - began)
            began = time.perf_counter()
            await model_usage(connection, since=NOW - 3600.0, until=NOW, limit=1000)
            usage.append(time.perf_counter() - began)
            rows = sum(o.calls for o in found.values())
    return statistics.median(health), statistics.median(usage), rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feedback", type=int, default=200_000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        url = args.postgres or f"sqlite:///{Path(directory) / 'bench.db'}"
        engine = create_engine(url)
        try:
            await upgrade(engine)
            began = time.perf_counter()
            await fill(engine, feedback=args.feedback, models=args.models, hours=args.hours)
            print(
                f"{engine.dialect.name}: wrote {args.feedback} decisions with feedback over "
                f"{args.hours:g} h in {time.perf_counter() - began:.1f} s"
            )
            health, usage, calls = await timed(engine, args.repeat)
            print(f"call_outcomes (60 s window, {calls} calls): {health * 1e3:.2f} ms median")
            print(f"model_usage (last hour, <= 1000 per model): {usage * 1e3:.2f} ms median")
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
