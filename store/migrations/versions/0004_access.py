"""Access: the API key that submitted each case (a channel reads only its own), and the read audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The id of the API key whose submission made the case (the `key_id` of the intake's actor).
    op.add_column("cases", sa.Column("submitted_by_key", sa.String(40)))
    op.create_index("ix_cases_submitted_by_key", "cases", ["submitted_by_key"])
    # Cases recorded before this column: the key is in the actor label of their `received` step (`channel#12`).
    op.execute(
        """
        update cases set submitted_by_key = split_part(timeline.actor, '#', 2)
        from timeline
        where timeline.reference = cases.reference and timeline.action = 'received'
          and position('#' in timeline.actor) > 0 and cases.submitted_by_key is null
        """
    )
    # The lists' keyset order: answer due, then reference.
    op.create_index("ix_cases_answer_due_reference", "cases", ["answer_due", "reference"])
    op.create_table(
        "case_reads",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), nullable=False, index=True),
        sa.Column("key_id", sa.Integer, nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_reads")
    op.drop_index("ix_cases_answer_due_reference", table_name="cases")
    op.drop_index("ix_cases_submitted_by_key", table_name="cases")
    op.drop_column("cases", "submitted_by_key")
