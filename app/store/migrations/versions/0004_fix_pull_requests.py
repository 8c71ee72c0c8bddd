"""Fixes remember the pull request they made, for the hourly limit and the dashboard.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fixes") as batch:
        batch.add_column(sa.Column("pull_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pull_url", sa.String(length=500), nullable=True))
    op.create_index("ix_fixes_status_created", "fixes", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_fixes_status_created", "fixes")
    with op.batch_alter_table("fixes") as batch:
        batch.drop_column("pull_url")
        batch.drop_column("pull_number")
