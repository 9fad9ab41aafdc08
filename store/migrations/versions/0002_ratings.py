"""Ratings: the submitter's score (1 to 5) and optional comment on a closed case, one per case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        # The primary key is the case: a case is rated once.
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), primary_key=True),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
    )


def downgrade() -> None:
    op.drop_table("ratings")
