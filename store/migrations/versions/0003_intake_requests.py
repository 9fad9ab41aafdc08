"""Intake requests: a channel's retry finds the case its first attempt made.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_requests",
        # `ref:<channel>:<channel_ref>` or `key:<api key id>:<Idempotency-Key>`
        sa.Column("idempotency_key", sa.String(300), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(20), nullable=False, index=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_requests")
