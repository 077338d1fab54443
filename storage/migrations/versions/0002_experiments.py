"""experiments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 22:24:11.485721
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("candidate", sa.String(length=128), nullable=False),
        sa.Column(
            "spec",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage_index", sa.Integer(), nullable=False),
        sa.Column("stage_started_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate"],
            ["models.id"],
        ),
        sa.ForeignKeyConstraint(
            ["policy"],
            ["policies.name"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index("ix_experiments_policy_status", ["policy", "status"], unique=False)

    op.create_table(
        "experiment_transitions",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("from_stage", sa.Integer(), nullable=False),
        sa.Column("to_stage", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("experiment_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_experiment_transitions_experiment_id"), ["experiment_id"], unique=False
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("experiment_arm", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("experiment_stage", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_decisions_experiment_id"), ["experiment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_experiment_id"))
        batch_op.drop_column("experiment_stage")
        batch_op.drop_column("experiment_arm")
        batch_op.drop_column("experiment_id")

    with op.batch_alter_table("experiment_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiment_transitions_experiment_id"))

    op.drop_table("experiment_transitions")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_experiments_policy_status")

    op.drop_table("experiments")
