"""A message's recipient holds `department:` and a department code of the directory's full 40 characters.

The column was 40 wide, which capped department codes at 29 characters; a department's code is
now limited only by the directory's own column.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("outbox", "recipient", type_=sa.String(60), existing_type=sa.String(40), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("outbox", "recipient", type_=sa.String(40), existing_type=sa.String(60), existing_nullable=False)
