"""Delivery and the staff directory: one row per message and transport, department contacts, retention marks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The language the submitter is written to in (Arabic unless the intake asked for English).
    op.add_column("cases", sa.Column("language", sa.String(2), nullable=False, server_default="ar"))
    # Set when the retention workflow erased the submitter's personal data; the case and its numbers stay.
    op.add_column("cases", sa.Column("personal_data_erased_at", sa.DateTime(timezone=True)))
    op.create_index("ix_cases_closed_at", "cases", ["closed_at"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", sa.BigInteger, sa.ForeignKey("outbox.id"), nullable=False, index=True),
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), nullable=False, index=True),
        # email, sms or callback.
        sa.Column("transport", sa.String(20), nullable=False),
        # Sent with the message to gateways that deduplicate, and checked here before every send.
        sa.Column("idempotency_key", sa.String(160), nullable=False, unique=True),
        # pending, sending, sent or failed.
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(500)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.add_column("outbox", sa.Column("updated_at", sa.DateTime(timezone=True)))
    # The live directory of departments: names and the address their staff are told at.
    # Seeded from policy.toml; admins edit it through the API.
    op.create_table(
        "departments",
        sa.Column("code", sa.String(40), primary_key=True),
        sa.Column("name_ar", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("customer_service", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("departments")
    op.drop_column("outbox", "updated_at")
    op.drop_index("ix_deliveries_status", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_cases_closed_at", table_name="cases")
    op.drop_column("cases", "personal_data_erased_at")
    op.drop_column("cases", "language")
