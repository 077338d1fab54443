"""Table handles and the few dialect differences the repositories need."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import storage.tables  # noqa: F401 - registers every table on SQLModel.metadata

api_keys: Table = SQLModel.metadata.tables["api_keys"]
audit_log: Table = SQLModel.metadata.tables["audit_log"]
decisions: Table = SQLModel.metadata.tables["decisions"]
experiments: Table = SQLModel.metadata.tables["experiments"]
experiment_transitions: Table = SQLModel.metadata.tables["experiment_transitions"]
feedback: Table = SQLModel.metadata.tables["feedback"]
langfuse_cursor: Table = SQLModel.metadata.tables["langfuse_cursor"]
langfuse_queue_items: Table = SQLModel.metadata.tables["langfuse_queue_items"]
meta: Table = SQLModel.metadata.tables["meta"]
models: Table = SQLModel.metadata.tables["models"]
policies: Table = SQLModel.metadata.tables["policies"]
quarantine: Table = SQLModel.metadata.tables["quarantine"]
rewards: Table = SQLModel.metadata.tables["rewards"]
sessions: Table = SQLModel.metadata.tables["sessions"]
snapshots: Table = SQLModel.metadata.tables["policy_snapshots"]


#: Above any reward a policy's ``reward_range`` allows, below float infinity: a stored reward
#: outside it is non-finite (written by an older version), and no report may read it.
_FINITE = 1e300


def usable_reward() -> ColumnElement[bool]:
    """A condition on ``rewards``: the one rule every report and the learner follow. A
    reward is read when it was not set aside and is a finite number (NaN and infinities fail
    the range test on both databases; SQLite stores NaN as NULL)."""
    return not_quarantined() & rewards.c.reward.between(-_FINITE, _FINITE)


def not_quarantined() -> ColumnElement[bool]:
    """A condition on ``rewards``: the reward was not set aside by the learner.

    Quarantined rewards (e.g. a non-finite one stored by an older version) are left out of
    everything that reads rewards, so that evaluations and experiment checks agree with what
    the learner learned.
    """
    return ~exists(select(quarantine.c.reward_seq).where(quarantine.c.reward_seq == rewards.c.seq))


async def insert_unless_exists(
    connection: AsyncConnection, table: Table, values: dict[str, Any]
) -> bool:
    """Insert a row unless its key already exists; True when this call inserted it.

    ``ON CONFLICT DO NOTHING`` keeps a concurrent duplicate from failing the whole batch.
    """
    result = await connection.execute(_insert_ignoring(table, connection.dialect.name), values)
    return bool(result.rowcount)


def insert_rows_unless_exist(
    connection: Connection, table: Table, rows: list[dict[str, Any]]
) -> set[object]:
    """Insert ``rows`` in one statement, skipping those whose key already exists; the keys
    of the rows this call inserted."""
    statement = _insert_ignoring_returning_key(table, connection.dialect.name)
    return set(connection.execute(statement, rows).scalars())


@functools.cache
def key_column(table: Table) -> Column[Any]:
    """The one column of ``table``'s primary key (looked up once per table: every logged
    decision asks)."""
    (column,) = table.primary_key.columns
    return column


@functools.cache
def _insert_ignoring(table: Table, dialect: str) -> Any:
    """One statement per table and dialect, built once: the values are bound per call, so
    SQLAlchemy compiles it once rather than building and hashing a new construct per row
    (that was 15% of a route's CPU)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


@functools.cache
def _insert_ignoring_returning_key(table: Table, dialect: str) -> Any:
    # SQLAlchemy sends a list of rows as one multi-row INSERT ... RETURNING ("insertmanyvalues").
    return _insert_ignoring(table, dialect).returning(key_column(table))
