"""routing_rules: what constrained each decision, fallback chains, key model allow-lists

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        # Earlier decisions had no constraints, exclusions or fallbacks: null reads as none.
        batch_op.add_column(sa.Column("routing", _JSON, nullable=True))
        batch_op.add_column(sa.Column("fallback_of", sa.String(length=128), nullable=True))
        batch_op.create_index("ix_decisions_fallback_of", ["fallback_of"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("models", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("models")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_fallback_of")
        batch_op.drop_column("fallback_of")
        batch_op.drop_column("routing")
