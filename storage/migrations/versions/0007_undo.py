"""undo: monotonic policy versions, snapshot versions, excluded rewards, voided feedback

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 13:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version_base", sa.Integer(), nullable=False, server_default="0")
        )
    # The old version was revision + learned count: a base equal to the revision keeps every
    # version already served, and the next jump moves past them.
    op.execute("UPDATE policies SET version_base = revision")
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE policy_snapshots SET version = revision + learned_count")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("excluded", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("excluded_at", sa.Float(), nullable=True))
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.add_column(sa.Column("void_reason", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("voided_at", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_column("voided_at")
        batch_op.drop_column("void_reason")
    with op.batch_alter_table("rewards", schema=None) as batch_op:
        batch_op.drop_column("excluded_at")
        batch_op.drop_column("excluded")
    with op.batch_alter_table("policy_snapshots", schema=None) as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_column("version_base")
