"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-23 21:33:32.360374
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("provider", sa.String(length=128), nullable=False),
        sa.Column("input_usd_per_mtok", sa.Float(), nullable=False),
        sa.Column("output_usd_per_mtok", sa.Float(), nullable=False),
        sa.Column(
            "features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "policies",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column(
            "config",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("policy_revision", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("learned_count", sa.Integer(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "arms",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "pmf",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("chosen_index", sa.Integer(), nullable=False),
        sa.Column("chosen_model", sa.String(length=128), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column(
            "caller_features",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prompt_hash", sa.String(length=64), nullable=True),
        sa.Column("prompt", sa.String(), nullable=True),
        sa.Column(
            "experiment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("join_status", sa.String(length=16), nullable=False),
        sa.Column("window_closes_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["policy"],
            ["policies.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_decisions_open_windows", ["join_status", "window_closes_at"], unique=False
        )
        batch_op.create_index("ix_decisions_policy_created", ["policy", "created_at"], unique=False)

    op.create_table(
        "policy_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("learned_count", sa.Integer(), nullable=False),
        sa.Column("high_water_mark", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy"],
            ["policies.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_snapshots_policy_revision", ["policy", "revision", "learned_count"], unique=False
        )

    op.create_table(
        "feedback",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("decision_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_feedback_idempotency_key"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_decision_id"), ["decision_id"], unique=False)

    op.create_table(
        "rewards",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("decision_id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.create_index("ix_rewards_policy_seq", ["policy", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_rewards_policy_seq")

    op.drop_table("rewards")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_decision_id"))

    op.drop_table("feedback")
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_snapshots_policy_revision")

    op.drop_table("policy_snapshots")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_policy_created")
        batch_op.drop_index("ix_decisions_open_windows")

    op.drop_table("decisions")
    op.drop_table("policies")
    op.drop_table("models")
    op.drop_table("meta")
