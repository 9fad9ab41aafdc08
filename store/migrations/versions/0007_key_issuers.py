"""Who issued and who revoked each API key: an admin can make a key of any role, so that is on record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The admin key that issued or revoked it; NULL when done from the command line (or before this).
    op.add_column("api_keys", sa.Column("created_by", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=True))
    op.add_column("api_keys", sa.Column("revoked_by", sa.Integer, sa.ForeignKey("api_keys.id"), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "revoked_by")
    op.drop_column("api_keys", "created_by")
