"""The case file, its timeline, the notification outbox and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("reference", sa.String(20), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False, index=True),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("channel_ref", sa.String(200)),
        sa.Column("submitter_category", sa.String(20), nullable=False),
        sa.Column("submitter_name", sa.String(200)),
        sa.Column("submitter_civil_id", sa.String(20)),
        sa.Column("submitter_email", sa.String(320)),
        sa.Column("submitter_phone", sa.String(32)),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("priority", sa.String(20)),
        sa.Column("status", sa.String(30), nullable=False, index=True),
        sa.Column("department", sa.String(40), index=True),
        sa.Column("escalation_level", sa.Integer, nullable=False, server_default="1"),
        sa.Column("breached", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("tracking_code_hash", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.Column("department_due", UTC_TIME, nullable=False),
        sa.Column("answer_due", UTC_TIME, nullable=False, index=True),
        sa.Column("closed_at", UTC_TIME),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("last_step", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "timeline",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), nullable=False, index=True),
        sa.Column("step_key", sa.String(80), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_status", sa.String(30)),
        sa.Column("to_status", sa.String(30)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.UniqueConstraint("reference", "step_key"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), nullable=False, index=True),
        sa.Column("message_key", sa.String(80), nullable=False),
        sa.Column("recipient", sa.String(40), nullable=False),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("context", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("reference", "message_key"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("department", sa.String(40)),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("revoked_at", UTC_TIME),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("outbox")
    op.drop_table("timeline")
    op.drop_table("cases")
