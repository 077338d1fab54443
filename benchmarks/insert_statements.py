"""Inserting rows with a statement built per row against one built once and bound per call.

    PYTHONPATH=. .venv/bin/python benchmarks/insert_statements.py --rows 2000 --repeats 5

Inserts ``--rows`` policy rows into a fresh SQLite file in one transaction, alternating the
two ways ``--repeats`` times, and prints the median microseconds per insert of each: the way
``storage._sql.insert_unless_exists`` did it (``insert(table).values(...)`` per row) and the
way it does it now (``_insert_ignoring``, built once per table and dialect).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite

from storage import _sql
from storage.engine import create_engine
from storage.migrate import upgrade


def _row(index: int) -> dict[str, Any]:
    return {
        "name": f"p{index}",
        "revision": 1,
        "config": {"index": index},
        "created_at": 0.0,
        "updated_at": 0.0,
    }


async def _run(rows: int, repeats: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        await upgrade(engine)
        table = _sql.policies
        timings: dict[str, list[float]] = {"built per row": [], "built once": []}
        for _ in range(repeats):
            for kind in timings:
                async with engine.begin() as connection:
                    await connection.execute(table.delete())
                    started = time.perf_counter()
                    for index in range(rows):
                        if kind == "built per row":
                            statement = sqlite.insert(table).values(**_row(index))
                            await connection.execute(statement.on_conflict_do_nothing())
                        else:
                            await connection.execute(
                                _sql._insert_ignoring(table, "sqlite"), _row(index)
                            )
                    timings[kind].append((time.perf_counter() - started) / rows * 1e6)
        await engine.dispose()
        return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for kind, values in asyncio.run(_run(args.rows, args.repeats)).items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{kind}: median {statistics.median(values):.0f} us per insert ({runs})")


if __name__ == "__main__":
    main()
