"""decisions experiment unit

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        # Older experiment decisions have none: each then counts as its own unit.
        batch_op.add_column(sa.Column("experiment_unit", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("experiment_unit")
