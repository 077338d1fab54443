"""How much database one decision takes: route and score real prompts, then measure the tables.

    PYTHONPATH=. .venv/bin/python benchmarks/log_size.py --decisions 2000
    PYTHONPATH=. .venv/bin/python benchmarks/log_size.py --postgres postgresql://localhost/bench

Starts the real server on a fresh SQLite file (or the given, empty, PostgreSQL database), routes
``--decisions`` RouterBench prompts on the default policy (prompt text features and words on,
embeddings off: the defaults) with one score each, and prints the bytes per decision of the
decisions, feedback and rewards tables with their indexes (SQLite: the file after a
checkpoint; PostgreSQL: ``pg_total_relation_size``).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import tempfile
from pathlib import Path

from sqlalchemy import text

from storage.engine import create_engine
from tests.server import start_server

DATASET = Path("../shared/data/routerbench_5shot_subset/routerbench_5shot_subset.jsonl.gz")


async def _postgres_bytes(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                table: int(
                    (
                        await connection.execute(
                            text("SELECT pg_total_relation_size(:t)"), {"t": table}
                        )
                    ).scalar_one()
                )
                for table in ("decisions", "feedback", "rewards")
            }
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL")
    args = parser.parse_args()
    with gzip.open(DATASET, "rt", encoding="utf-8") as lines:
        prompts = [json.loads(line)["prompt"] for line in lines][: args.decisions]
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database = workdir / "router.db"
        url = args.postgres or f"sqlite:///{database}"
        server = start_server(url, workdir)
        try:
            with server.client() as client:
                for index, prompt in enumerate(prompts):
                    routed = client.post(
                        "/v1/route", json={"prompt": prompt, "features": {"task": "bench"}}
                    ).json()
                    client.post(
                        "/v1/feedback",
                        json={"decision_id": routed["decision_id"], "score": index % 2},
                    ).raise_for_status()
        finally:
            server.stop()  # a graceful stop checkpoints SQLite's WAL into the file
        if args.postgres:
            sizes = asyncio.run(_postgres_bytes(args.postgres))
            total = sum(sizes.values())
            detail = ", ".join(f"{t} {b / len(prompts):,.0f}" for t, b in sizes.items())
        else:
            total = database.stat().st_size
            detail = "the whole SQLite file"
    print(
        f"{len(prompts)} decisions with one score each: {total / len(prompts):,.0f} bytes per "
        f"decision ({detail}); {total / len(prompts) * 86_400 * 100 / 1e9:.1f} GB a day at "
        "100 decisions per second"
    )


if __name__ == "__main__":
    main()
