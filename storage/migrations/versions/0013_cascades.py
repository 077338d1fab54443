"""cascades: escalation decisions name the first decision and what it already cost

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_of", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("prior_cost_usd", sa.Float(), nullable=True))
        batch_op.create_index("ix_decisions_escalation_of", ["escalation_of"])


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_escalation_of")
        batch_op.drop_column("prior_cost_usd")
        batch_op.drop_column("escalation_of")
