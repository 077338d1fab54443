"""quarantine: rewards the learner could not learn

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("reward_seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("policy", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("reward_seq"),
    )
    op.create_index("ix_quarantine_policy_seq", "quarantine", ["policy", "reward_seq"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_policy_seq", table_name="quarantine")
    op.drop_table("quarantine")
