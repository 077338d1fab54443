"""judge: the judge's sample on decisions, its own cost on feedback

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("judge_probability", sa.Float(), nullable=True))
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("grading_cost_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("grading_cost_usd")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("judge_probability")
