"""sessions: conversations kept on one model, and decisions that continue them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("decision_id", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index("ix_sessions_updated", "sessions", ["updated_at"])
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("continues", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_decisions_continues", ["continues"])


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_continues")
        batch_op.drop_column("continues")
        batch_op.drop_column("session_key")
    op.drop_index("ix_sessions_updated", table_name="sessions")
    op.drop_table("sessions")
