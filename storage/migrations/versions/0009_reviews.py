"""reviews: review sample probability and posted answers on decisions; reviewer and comment
on feedback

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_probability", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("response", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("response_at", sa.Float(), nullable=True))
        batch_op.create_index("ix_decisions_review", ["policy", "review_probability"])
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewer", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("comment", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("comment")
        batch_op.drop_column("reviewer")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_review")
        batch_op.drop_column("response_at")
        batch_op.drop_column("response")
        batch_op.drop_column("review_probability")
