"""The public tracking page's sessions: one browser following one case for a short while.

- `public_sessions`: the cookie holds a random token, the row its SHA-256, the case's reference, the
  CSRF token the page's forms carry, and when it ends. Apart from `staff_sessions`: the public pages
  and the console share no session.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("public_sessions")
