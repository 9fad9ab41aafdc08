"""Random tracking codes kept sealed for retried submissions, and the public endpoints' request counter.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The case's random tracking code, AES-GCM sealed, so that a retried submission answers with it again.
    # Claims made before have none: their codes were derived from the reference, and still are for a retry.
    op.add_column("intake_requests", sa.Column("tracking_code_sealed", sa.LargeBinary))
    # Requests to the public (keyless) endpoints per client address in the current fixed window, shared by
    # every API process: one row per address, reset when a request opens a new window.
    op.create_table(
        "public_request_counts",
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
    )
    # For sweeping the rows of addresses whose window has ended.
    op.create_index("ix_public_request_counts_window_start", "public_request_counts", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_public_request_counts_window_start", table_name="public_request_counts")
    op.drop_table("public_request_counts")
    op.drop_column("intake_requests", "tracking_code_sealed")
