"""langfuse_queue: decisions added to a policy's Langfuse annotation queue

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "langfuse_queue_items",
        sa.Column("decision_id", sa.String(length=128), nullable=False),
        sa.Column("queue_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id"),
    )


def downgrade() -> None:
    op.drop_table("langfuse_queue_items")
