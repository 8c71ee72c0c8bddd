"""Index events by image, for recognising re-deliveries quickly.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_image", "events", ["registry", "repository", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_events_image", "events")
