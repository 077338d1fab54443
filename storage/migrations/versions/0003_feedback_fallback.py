"""feedback fallback

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 23:15:34.148110
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        # Existing feedback reported no fallback.
        batch_op.add_column(
            sa.Column("fallback", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("fallback")
