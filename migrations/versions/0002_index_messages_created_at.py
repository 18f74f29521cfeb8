"""Index messages.created_at for the admin dashboard's messages per day.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

GET /admin/stats counts the last 30 days of messages with a created_at range; without an index
that is a scan of the whole table.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_created_at", "messages", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_created_at", table_name="messages")
