"""The periodic review: the reports it made (the monthly report, the policy-review reminder), each sent once; and
the words of each case's subject, kept as a tsvector beside it, so that the review counts them without splitting
every subject again; and each case's facts for the review,
taken from its timeline (store/reports.py keeps them up to date), so that a report reads a row a case.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 'simple': lower-cased words, no stemming and no stop words of one language: Arabic and English subjects alike.
    op.add_column("cases", sa.Column("subject_words", postgresql.TSVECTOR,
                                     sa.Computed("to_tsvector('simple', subject)", persisted=True)))
    # Reports select cases by when they were received.
    op.create_index("ix_cases_received_at", "cases", ["received_at"])
    instant = sa.DateTime(timezone=True)
    instants = postgresql.ARRAY(sa.DateTime(timezone=True))
    op.create_table(
        "case_review_facts",
        sa.Column("reference", sa.String(20), sa.ForeignKey("cases.reference"), primary_key=True),
        # Computed after the case ended: never computed again.
        sa.Column("final", sa.Boolean, nullable=False),
        *(sa.Column(name, instant, nullable=True) for name in (
            "replied_at", "answered_at", "escalated_at", "first_breached_at", "rejected_at")),
        sa.Column("ground", sa.String(40), nullable=True),
        sa.Column("no_response_at", instant, nullable=True),
        *(sa.Column(name, instants, nullable=True) for name in ("pause_starts", "pause_ends", "breaches", "contests")),
    )
    # The refresh looks for the facts still open.
    op.create_index("ix_case_review_facts_open", "case_review_facts", ["reference"],
                    postgresql_where=sa.text("NOT final"))
    op.create_table(
        "periodic_reports",
        sa.Column("key", sa.String(60), primary_key=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("periodic_reports")
    op.drop_table("case_review_facts")
    op.drop_column("cases", "subject_words")
    op.drop_index("ix_cases_received_at", table_name="cases")
